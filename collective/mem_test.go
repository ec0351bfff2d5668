package collective

import (
	"errors"
	"testing"
	"time"

	"bloom/internal/testutil"
)

// TestMemFaults: a delayed link slows an allreduce but keeps it right; a
// dropped message ends it on every rank at the deadline, never in a hang.
func TestMemFaults(t *testing.T) {
	testutil.CheckLeaks(t, 10*time.Second)
	cfg := testConfig(t, "mem")
	cfg.ChunkBytes = 4096
	cfg.SmallAllReduceBytes = 0 // the ring: every link carries messages
	comms := cluster(t, cfg, 4)
	cfg.Mem.Delay(1, 2, 20*time.Millisecond)
	start := time.Now()
	checkAllReduce(t, comms, Float32, Sum, 5000)
	if el := time.Since(start); el < 20*time.Millisecond {
		t.Errorf("a 20 ms delay on 1→2 finished in %v", el)
	}

	cfg = testConfig(t, "mem")
	cfg.OpTimeout = 300 * time.Millisecond
	cfg.SmallAllReduceBytes = 0
	comms = cluster(t, cfg, 4)
	cfg.Mem.Drop(2, 3)
	errs := each(comms, func(c *Comm) error {
		buf := make([]float32, 1000)
		return c.AllReduceF32(t.Context(), buf, buf, Sum)
	})
	timedOut := false
	for r, err := range errs {
		if !errors.Is(err, ErrTimeout) && !errors.Is(err, ErrAborted) {
			t.Errorf("rank %d: %v, want ErrTimeout or ErrAborted", r, err)
		}
		timedOut = timedOut || errors.Is(err, ErrTimeout)
	}
	if !timedOut {
		t.Errorf("no rank reports the timeout: %v", errs)
	}
}

// TestHCCLNumbering pins the enum values to HCCL's.
func TestHCCLNumbering(t *testing.T) {
	want := map[string]int{"int8": 0, "int16": 1, "int32": 2, "fp16": 3, "fp32": 4, "int64": 5, "uint64": 6,
		"uint8": 7, "uint16": 8, "uint32": 9, "fp64": 10, "bf16": 11}
	for name, v := range want {
		dt, err := ParseDataType(name)
		if err != nil || int(dt) != v || dt.String() != name {
			t.Errorf("%s: %d %v (%s)", name, dt, err, dt)
		}
	}
	for name, v := range map[string]int{"sum": 0, "prod": 1, "max": 2, "min": 3} {
		op, err := ParseReduceOp(name)
		if err != nil || int(op) != v || op.String() != name {
			t.Errorf("%s: %d %v", name, op, err)
		}
	}
	if _, err := ParseDataType("fp8"); err == nil {
		t.Error("fp8 accepted")
	}
}
