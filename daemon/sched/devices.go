package sched

import (
	"fmt"
	"strconv"
	"strings"
)

// Device is one device kind and the indices of that kind a node offers.
type Device struct {
	Kind    string
	Indices []int
}

// ParseDevices reads "cpu:N" (N CPU ranks) or "npu:0-7" / "npu:0,2,4"
// (those NPU indices). Several groups are separated by ';'. The errors
// name bloomd's --devices flag, where the string comes from.
func ParseDevices(s string) ([]Device, error) {
	var out []Device
	for _, group := range strings.Split(s, ";") {
		kind, spec, ok := strings.Cut(strings.TrimSpace(group), ":")
		if !ok || spec == "" {
			return nil, fmt.Errorf("daemon: --devices %q: want cpu:N or npu:0-7", s)
		}
		var d Device
		d.Kind = kind
		switch kind {
		case "cpu":
			n, err := strconv.Atoi(spec)
			if err != nil || n < 1 || n > 1024 {
				return nil, fmt.Errorf("daemon: --devices %q: cpu:N wants 1 ≤ N ≤ 1024", s)
			}
			for i := range n {
				d.Indices = append(d.Indices, i)
			}
		case "npu":
			idx, err := parseIndexList(spec)
			if err != nil {
				return nil, fmt.Errorf("daemon: --devices %q: %v", s, err)
			}
			d.Indices = idx
		default:
			return nil, fmt.Errorf("daemon: --devices %q: unknown device kind %q (cpu or npu)", s, kind)
		}
		out = append(out, d)
	}
	return out, nil
}

// parseIndexList reads "0-7" or "0,2,4" or "0-3,6".
func parseIndexList(spec string) ([]int, error) {
	var idx []int
	seen := map[int]bool{}
	for _, part := range strings.Split(spec, ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		a, err1 := strconv.Atoi(lo)
		b := a
		var err2 error
		if isRange {
			b, err2 = strconv.Atoi(hi)
		}
		if err1 != nil || err2 != nil || a < 0 || b < a || b > 255 {
			return nil, fmt.Errorf("bad index list %q: want indices 0..255 such as 0-7 or 0,2,4", spec)
		}
		for i := a; i <= b; i++ {
			if seen[i] {
				return nil, fmt.Errorf("index %d listed twice", i)
			}
			seen[i] = true
			idx = append(idx, i)
		}
	}
	return idx, nil
}

func deviceCount(devs []Device) int {
	n := 0
	for _, d := range devs {
		n += len(d.Indices)
	}
	return n
}

// DeviceAt is the kind and index of the device at position pos of a
// node's --devices list (a plan's Rank.Device is such a position).
func DeviceAt(devices string, pos int) (kind string, index int, err error) {
	devs, err := ParseDevices(devices)
	if err != nil {
		return "", 0, err
	}
	for _, d := range devs {
		if pos < len(d.Indices) {
			return d.Kind, d.Indices[pos], nil
		}
		pos -= len(d.Indices)
	}
	return "", 0, fmt.Errorf("daemon: device %d is not in --devices %q", pos, devices)
}

// NPUIndices are the NPU indices a node's --devices offers (none for a
// list ParseDevices refuses: the daemon checks --devices at start).
func NPUIndices(devices string) []int {
	devs, _ := ParseDevices(devices)
	var idx []int
	for _, d := range devs {
		if d.Kind == "npu" {
			idx = append(idx, d.Indices...)
		}
	}
	return idx
}
