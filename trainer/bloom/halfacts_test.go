package bloom

import (
	"fmt"
	"math"
	"slices"
	"sync"
	"testing"

	"bloom/npu"
	"bloom/npu/cpu"
)

// TestHalfActs: under bf16 and fp16, keeping the linears' inputs in half
// (linearIn) gives the same losses, gradients and parameters, bit for bit,
// as keeping them in float32 (the fp32Acts switch: the products were
// rounding them anyway), over three steps of two micro-batches with an
// update between: plain, with LoRA on some linears (their inputs stay
// float32), with recomputation, through two pipeline slots, and with two
// tensor-parallel ranks. The activations kept take fewer bytes. The
// float32 run also multiplies rounded copies of its operands (ToHalf, then
// GemmHalf) where the half run rounds them in the device's packers
// (GemmRounded): the same bits again.
func TestHalfActs(t *testing.T) {
	lora := LoRA{R: 2, Alpha: 3, Targets: LoRAQKV | LoRAProj} // dense and dense_h_to_4h keep half inputs
	for _, p := range []npu.DType{npu.BF16, npu.F16} {
		for _, tc := range []struct {
			name      string
			lora      LoRA
			recompute bool
			slots     bool
			tp        int
		}{
			{"plain", LoRA{}, false, false, 1},
			{"lora", lora, false, false, 1},
			{"recompute", LoRA{}, true, false, 1},
			{"recompute+lora", lora, true, false, 1},
			{"slots", LoRA{}, false, true, 1},
			{"slots+recompute", LoRA{}, true, true, 1},
			{"tp2", LoRA{}, false, false, 2},
		} {
			t.Run(fmt.Sprintf("%v/%s", p, tc.name), func(t *testing.T) {
				c := tpConfig
				c.LoRA = tc.lora
				run := func(fp32Acts bool) ([]float64, [][]float32, int) {
					ms := halfActsModels(t, c, p, tc.tp, fp32Acts, tc.recompute)
					var losses []float64
					var state [][]float32 // each rank's gradients, then parameters, after each step
					var wg sync.WaitGroup
					for step := range 3 {
						ls := make([]float64, len(ms))
						for r, m := range ms {
							wg.Add(1)
							go func() {
								defer wg.Done()
								ls[r] = halfActsStep(t, m, step, tc.slots)
							}()
						}
						wg.Wait()
						losses = append(losses, ls...)
						for _, m := range ms {
							g, w := make([]float32, m.Layout.Size), make([]float32, m.Layout.Size)
							m.Dev.Read(g, m.Grads)
							m.Dev.Axpy(m.Params, -0.1, m.Grads, m.Layout.Size)
							m.Dev.Read(w, m.Params)
							state = append(state, g, w)
						}
					}
					a := ms[0].train
					if tc.slots {
						a = ms[0].slots[0]
					}
					return losses, state, actsBytes(a)
				}
				l32, s32, mem32 := run(true)
				lh, sh, memh := run(false)
				if !slices.Equal(l32, lh) {
					t.Errorf("losses %v with half inputs kept, %v with float32", lh, l32)
				}
				for i := range s32 {
					if k := bitsDiffer(s32[i], sh[i]); k >= 0 {
						t.Fatalf("step %d, rank %d, %s: element %d is %g with half inputs kept, %g with float32",
							i/(2*tc.tp), i/2%tc.tp, []string{"gradients", "parameters"}[i%2], k, sh[i][k], s32[i][k])
					}
				}
				if memh >= mem32 {
					t.Errorf("activations %d bytes with half inputs kept, %d with float32", memh, mem32)
				}
			})
		}
	}
}

// halfActsModels builds tp ranks of a model of shape c under precision p
// (one whole model when tp is 1), from the same random parameters.
func halfActsModels(t *testing.T, c Config, p npu.DType, tp int, fp32Acts, recompute bool) []*Model {
	t.Helper()
	full := NewLayout(c)
	host := randomHost(full, 5)
	devs := make([]npu.Device, tp)
	for i := range devs {
		devs[i] = cpu.New(1)
	}
	comms := newMemTP(devs)
	ms := make([]*Model, tp)
	for r := range ms {
		part := FullPart(c)
		part.TP, part.TPRank = tp, r
		m, err := NewPart(devs[r], c, part, comms[r])
		if err != nil {
			t.Fatal(err)
		}
		loadPart(m, full, host)
		if err := m.SetPrecision(p); err != nil {
			t.Fatal(err)
		}
		m.fp32Acts, m.Recompute = fp32Acts, recompute
		m.dev.(*halfGemm).copies = fp32Acts // the float32 run as before: rounded copies, GemmHalf
		ms[r] = m
	}
	return ms
}

// halfActsStep zeroes m's gradients and runs two micro-batches of step:
// by Step, or (slots) both forwards through two slots, then both
// backwards. It returns the first micro-batch's loss.
func halfActsStep(t *testing.T, m *Model, step int, slots bool) float64 {
	const B, T = 2, 5
	batch := func(mb int) Batch {
		b := Batch{B: B, T: T, IDs: make([]int32, B*T), Targets: make([]int32, B*T)}
		for i := range b.IDs {
			b.IDs[i] = int32((i*7 + step*3 + mb*5) % m.Cfg.Vocab)
			b.Targets[i] = int32((i*5 + step + mb*2 + 1) % m.Cfg.Vocab)
		}
		return b
	}
	m.ZeroGrads()
	var loss float64
	if !slots {
		for mb := range 2 {
			l, _, err := m.Step(batch(mb), 0.5)
			if err != nil {
				t.Error(err)
			}
			loss = max(loss, l)
		}
		return loss
	}
	m.PrepareSlots(2, B, T)
	for mb := range 2 {
		b := batch(mb)
		l, _, err := m.ForwardSlot(mb, b.IDs, b.Targets, 0.5)
		if err != nil {
			t.Error(err)
		}
		loss = max(loss, l)
	}
	for mb := range 2 {
		if err := m.BackwardSlot(mb, batch(mb).IDs, nil); err != nil {
			t.Error(err)
		}
	}
	return loss
}

// bitsDiffer is the first index where a and b differ in bits, or -1.
func bitsDiffer(a, b []float32) int {
	for i := range a {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
			return i
		}
	}
	return -1
}
