package daemon

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"bloom/api"
	"bloom/daemon/sched"
	"bloom/membership"
)

// The node's devices are probed by a short-lived worker process at start
// and every Jobs.DeviceProbeInterval after: whether each opens and holds a
// value, and its memory. A device a job's worker holds is not probed; it
// keeps its last figures. The results are in /v1/status, /metrics and, as
// "ok/total", in the node's gossip metadata (bloomctl members). CPU
// devices need no probe: they are the host.

// deviceNames lists the node's devices as "kind:index".
func deviceNames(spec string) ([]string, error) {
	devs, err := sched.ParseDevices(spec)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, d := range devs {
		for _, i := range d.Indices {
			out = append(out, fmt.Sprintf("%s:%d", d.Kind, i))
		}
	}
	return out, nil
}

// probeLoop probes the devices until the daemon stops.
func (d *Daemon) probeLoop() {
	names, err := deviceNames(d.cfg.Devices)
	if err != nil {
		return
	}
	every := d.cfg.Jobs.DeviceProbeInterval
	if every <= 0 {
		every = 5 * time.Minute
	}
	for {
		d.probeOnce(names)
		select {
		case <-d.stop:
			return
		case <-time.After(every):
		}
	}
}

// probeOnce probes the devices no worker holds and records the results.
func (d *Daemon) probeOnce(names []string) {
	busy := d.sup.Busy()
	var ask []string
	now := time.Now().UnixMilli()
	var found []api.DeviceInfo
	for _, n := range names {
		switch {
		case n[:4] == "cpu:":
			total, free := hostMemory()
			found = append(found, api.DeviceInfo{Device: n, Backend: "cpu", Healthy: true, ProbedAt: now, MemTotal: total, MemFree: free})
		case !busy[n]:
			ask = append(ask, n)
		}
	}
	if len(ask) > 0 {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		go func() { // the daemon stopping ends the probe
			select {
			case <-d.stop:
				cancel()
			case <-ctx.Done():
			}
		}()
		got, err := d.sup.Probe(ctx, ask)
		cancel()
		if err != nil {
			d.log.Warn("device probe", "err", err)
			for _, n := range ask {
				got = append(got, api.DeviceInfo{Device: n, Error: err.Error(), ProbedAt: now})
			}
		}
		found = append(found, got...)
	}
	d.mu.Lock()
	if d.devices == nil {
		d.devices = map[string]api.DeviceInfo{}
	}
	for _, info := range found {
		d.devices[info.Device] = info
	}
	ok := 0
	for _, info := range d.devices {
		if info.Healthy {
			ok++
		}
	}
	health := fmt.Sprintf("%d/%d", ok, len(names))
	perDevice := memPerDevice(d.devices, len(names))
	d.mu.Unlock()
	if err := d.ml.UpdateMeta(func(m *membership.NodeMeta) { m.DevicesHealthy, m.MemPerDevice = health, perDevice }, time.Second); err != nil {
		d.log.Warn("gossip device health", "err", err)
	}
}

// Devices is the node's devices as last probed, in --devices order.
func (d *Daemon) Devices() []api.DeviceInfo {
	names, _ := deviceNames(d.cfg.Devices)
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []api.DeviceInfo
	for _, n := range names {
		if info, ok := d.devices[n]; ok {
			out = append(out, info)
		}
	}
	return out
}

// memPerDevice is the memory one rank may use on this node, in MiB (see
// NodeMeta.MemPerDevice): CPU devices share the host's memory, each
// accelerator has its own; the smallest counts. 0 when none is known.
func memPerDevice(devs map[string]api.DeviceInfo, n int) uint64 {
	var least uint64
	for _, dv := range devs {
		m := dv.MemTotal
		if dv.Backend == "cpu" {
			m /= uint64(max(n, 1))
		}
		if m > 0 && (least == 0 || m < least) {
			least = m
		}
	}
	return least >> 20
}

// hostMemory is the host's total and available memory in bytes, from
// /proc/meminfo (0, 0 where there is none).
func hostMemory() (total, avail uint64) {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0, 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		var kb uint64
		if _, err := fmt.Sscanf(l, "MemTotal: %d kB", &kb); err == nil {
			total = kb << 10
		} else if _, err := fmt.Sscanf(l, "MemAvailable: %d kB", &kb); err == nil {
			avail = kb << 10
		}
	}
	return total, avail
}
