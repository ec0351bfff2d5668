package memplan

import (
	"fmt"
	"testing"

	"bloom/npu"
	"bloom/npu/cpu"
	"bloom/trainer"
	"bloom/trainer/bloom"
)

// counting is a device that adds up the bytes allocated on it.
type counting struct {
	npu.Device
	bytes int64
}

func (c *counting) Alloc(n int) npu.Buf { c.bytes += 4 * int64(n); return c.Device.Alloc(n) }

func (c *counting) AllocHalf(t npu.DType, n int) npu.HalfBuf {
	c.bytes += 2 * int64(n)
	return c.Device.AllocHalf(t, n)
}

// allocated builds the part of j's stage 0 (tensor-parallel rank 0) as the
// trainer does: the model, its gradients, AdamW, the 1F1B slots; with TP =
// 1 it also runs a training step through the slot, so that the scratch a
// pass allocates counts. It returns the bytes allocated by kind.
func allocated(t *testing.T, j Job, st Stage) Bytes {
	t.Helper()
	d := &counting{Device: cpu.New(1)}
	part := bloom.Part{TP: j.TP, First: st.First, Layers: st.Layers, Embed: st.Stage == 0, Head: st.Stage == j.PP-1}
	m, err := bloom.NewPart(d, j.Model, part, nopComm{})
	if err != nil {
		t.Fatal(err)
	}
	var b Bytes
	b.Weights, d.bytes = d.bytes, 0
	m.ZeroGrads()
	b.Grads, d.bytes = d.bytes, 0
	trainer.NewAdamW(m, trainer.AdamWConfig{Beta1: 0.9, Beta2: 0.95, Eps: 1e-8})
	b.Optimizer, d.bytes = d.bytes, 0
	if err := m.SetPrecision(map[Precision]npu.DType{FP32: npu.F32, FP16: npu.F16, BF16: npu.BF16}[j.Precision]); err != nil {
		t.Fatal(err)
	}
	m.Recompute = j.Recompute
	m.PrepareSlots(st.InFlight, j.MicroBatch, j.SeqLength)
	if part.Full(j.Model) {
		n := j.MicroBatch * j.SeqLength
		ids := make([]int32, n)
		for i := range ids {
			ids[i] = int32(i % j.Model.Vocab)
		}
		if _, _, err := m.ForwardSlot(0, ids, ids, 1); err != nil {
			t.Fatal(err)
		}
		if err := m.BackwardSlot(0, ids, nil); err != nil {
			t.Fatal(err)
		}
	}
	b.Activations = d.bytes
	b.Total = b.Weights + b.Grads + b.Optimizer + b.Activations
	return b
}

// nopComm stands in for the other tensor-parallel ranks: only allocation
// is measured with TP > 1, no pass runs.
type nopComm struct{}

func (nopComm) AllReduceSum(npu.Buf) error { return nil }
func (nopComm) AllReduceMax(npu.Buf) error { return nil }

// TestPlanAgainstAllocation builds small models on the CPU device as the
// trainer does and compares the bytes they allocate with the plan. The
// parameters, gradients and optimizer state must match to the byte (the
// plan counts bloom's layout); the activations, Megatron's formula against
// bloom's buffers (the package doc's last section), within a factor of 2:
// bloom keeps 4·(4+15/t)·sbh + 4·a·s²·b/t bytes a layer plus a backward
// scratch of 4·(2+14/t)·sbh, the plan 2·(10+24/t)·sbh + 10·a·s²·b/t.
// With recomputation bloom allocates one layer's working set per stage,
// shared by its slots, as the plan counts.
func TestPlanAgainstAllocation(t *testing.T) {
	small := bloom.Presets["bloom-small"] // V 4096, h 256, a 8, L 4
	for _, j := range []Job{
		{Model: bloom.Presets["bloom-tiny"], TP: 1, PP: 1, MicroBatch: 4, SeqLength: 64, Precision: FP32},
		{Model: small, TP: 1, PP: 1, MicroBatch: 2, SeqLength: 128, Precision: BF16},
		{Model: small, TP: 1, PP: 1, MicroBatch: 2, SeqLength: 128, Precision: FP16, Recompute: true},
		{Model: small, TP: 2, PP: 2, MicroBatch: 2, SeqLength: 128, Precision: FP32, MicroBatches: 8},
		{Model: small, TP: 4, PP: 2, MicroBatch: 1, SeqLength: 256, Precision: BF16, MicroBatches: 8},
		{Model: small, TP: 2, PP: 2, MicroBatch: 2, SeqLength: 128, Precision: BF16, MicroBatches: 8, Recompute: true},
	} {
		name := fmt.Sprintf("TP%dPP%d-%s-recompute=%v", j.TP, j.PP, j.Precision, j.Recompute)
		t.Run(name, func(t *testing.T) {
			p, err := New(j)
			if err != nil {
				t.Fatal(err)
			}
			for _, st := range p.Stages {
				got, want := allocated(t, j, st), st.Rank
				if got.Weights != want.Weights || got.Grads != want.Grads || got.Optimizer != want.Optimizer {
					t.Errorf("stage %d: allocated weights %d, grads %d, optimizer %d; plan %d, %d, %d",
						st.Stage, got.Weights, got.Grads, got.Optimizer, want.Weights, want.Grads, want.Optimizer)
				}
				r := float64(got.Activations) / float64(want.Activations)
				t.Logf("stage %d: activations allocated %d, plan %d (×%.2f); total ×%.2f", st.Stage, got.Activations,
					want.Activations, r, float64(got.Total)/float64(want.Total))
				if r < 0.5 || r > 2 {
					t.Errorf("stage %d: allocated activations %d are ×%.2f the plan's %d: beyond the factor 2", st.Stage, got.Activations, r, want.Activations)
				}
			}
		})
	}
}
