package daemon

import (
	"fmt"
	"io"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"

	"bloom/membership"
)

// applyBuckets are the upper bounds (seconds) of the apply-latency histogram.
var applyBuckets = []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10}

// metrics holds what /metrics reports beyond what raft and gossip say live.
type metrics struct {
	leaderChanges atomic.Uint64

	mu     sync.Mutex
	counts []uint64 // per bucket, not cumulative
	sum    float64
	n      uint64
}

func newMetrics() *metrics { return &metrics{counts: make([]uint64, len(applyBuckets))} }

func (m *metrics) observeApply(d time.Duration) {
	s := d.Seconds()
	m.mu.Lock()
	defer m.mu.Unlock()
	m.sum += s
	m.n++
	for i, b := range applyBuckets {
		if s <= b {
			m.counts[i]++
			return
		}
	}
}

// writeMetrics writes the Prometheus text exposition format (version
// 0.0.4) by hand: HELP and TYPE lines, then samples.
func (d *Daemon) writeMetrics(w io.Writer) {
	byState := map[membership.State]int{}
	for _, m := range d.ml.Members() {
		byState[m.State]++
	}
	family(w, "bloom_members", "gauge", "Members of the gossip pool by state, as this node sees them.")
	for _, st := range []membership.State{membership.StateAlive, membership.StateSuspect, membership.StateDead, membership.StateLeft} {
		fmt.Fprintf(w, "bloom_members{state=%q} %d\n", st, byState[st])
	}
	if devs := d.Devices(); len(devs) > 0 {
		family(w, "bloom_device_healthy", "gauge", "1 when the device opened and held a value at its last probe.")
		for _, dv := range devs {
			fmt.Fprintf(w, "bloom_device_healthy{device=%q} %d\n", dv.Device, b2u(dv.Healthy))
		}
		family(w, "bloom_device_memory_bytes", "gauge", "Device memory at the last probe (NPUs), total and free.")
		for _, dv := range devs {
			if dv.MemTotal > 0 {
				fmt.Fprintf(w, "bloom_device_memory_bytes{device=%q,kind=\"total\"} %d\n", dv.Device, dv.MemTotal)
				fmt.Fprintf(w, "bloom_device_memory_bytes{device=%q,kind=\"free\"} %d\n", dv.Device, dv.MemFree)
			}
		}
	}
	r := d.raft
	family(w, "bloom_raft_leader_changes_total", "counter", "Leader changes this node has observed.")
	fmt.Fprintf(w, "bloom_raft_leader_changes_total %d\n", d.metrics.leaderChanges.Load())
	gauges := []struct {
		name, help string
		v          uint64
	}{
		{"bloom_raft_commit_index", "Index of the last committed Raft log entry.", r.CommitIndex()},
		{"bloom_raft_applied_index", "Index of the last Raft log entry applied to the state machine.", r.AppliedIndex()},
		{"bloom_raft_last_index", "Index of the last Raft log entry stored here.", r.LastIndex()},
		{"bloom_raft_term", "Current Raft term.", r.CurrentTerm()},
		{"bloom_raft_is_leader", "1 when this node is the Raft leader (the coordinator).", b2u(r.State() == raft.Leader)},
	}
	for _, g := range gauges {
		family(w, g.name, "gauge", g.help)
		fmt.Fprintf(w, "%s %d\n", g.name, g.v)
	}
	d.metrics.writeHistogram(w)
}

func (m *metrics) writeHistogram(w io.Writer) {
	const name = "bloom_raft_apply_duration_seconds"
	family(w, name, "histogram", "Time from proposing a command on the leader to its being applied.")
	m.mu.Lock()
	defer m.mu.Unlock()
	var cum uint64
	for i, b := range applyBuckets {
		cum += m.counts[i]
		fmt.Fprintf(w, "%s_bucket{le=\"%s\"} %d\n", name, formatFloat(b), cum)
	}
	fmt.Fprintf(w, "%s_bucket{le=\"+Inf\"} %d\n", name, m.n)
	fmt.Fprintf(w, "%s_sum %s\n%s_count %d\n", name, formatFloat(m.sum), name, m.n)
}

func family(w io.Writer, name, typ, help string) {
	fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, typ)
}

func formatFloat(f float64) string {
	if math.IsInf(f, 1) {
		return "+Inf"
	}
	return fmt.Sprintf("%g", f)
}

func b2u(b bool) uint64 {
	if b {
		return 1
	}
	return 0
}
