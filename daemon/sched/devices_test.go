package sched

import "testing"

func TestParseDevices(t *testing.T) {
	good := map[string]int{"cpu:4": 4, "npu:0-7": 8, "npu:0,2,4": 3, "npu:0-3,6": 5, "cpu:1;npu:0": 2}
	for s, n := range good {
		ds, err := ParseDevices(s)
		total := 0
		for _, d := range ds {
			total += len(d.Indices)
		}
		if err != nil || total != n {
			t.Errorf("ParseDevices(%q) = %v, %v", s, ds, err)
		}
	}
	for _, s := range []string{"", "cpu", "cpu:0", "gpu:1", "npu:3-1", "npu:0,0", "npu:x", "npu:0-999"} {
		if _, err := ParseDevices(s); err == nil {
			t.Errorf("ParseDevices(%q) accepted", s)
		}
	}
}
