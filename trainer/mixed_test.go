package trainer

import (
	"context"
	"math"
	"testing"

	"bloom/npu"
	"bloom/npu/cpu"
)

// mixedJob is tinyJob in precision p. Under fp16 its loss scaler starts
// at 2^24, where the scaled gradients overflow fp16, and doubles after 4
// clean steps, so a 20-step run skips steps, halves the scale and doubles
// it again.
func mixedJob(p npu.DType) RankConfig {
	c := tinyJob()
	c.Precision = p
	if p == npu.F16 {
		c.LossScale = LossScaleConfig{InitialScalePower: 24, Window: 4, Hysteresis: 2, MinScale: 1}
	}
	return c
}

// TestMixedResumeExact: under --bf16 and --fp16 a run stopped after step 10
// and resumed from its checkpoint equals the uninterrupted one bit for bit:
// losses, norms, learning rates, the loss scale and the skipped steps (the
// scaler's state is in the checkpoint), parameters and moments. One rank and
// DP=TP=PP=2.
func TestMixedResumeExact(t *testing.T) {
	for _, p := range []npu.DType{npu.BF16, npu.F16} {
		for _, c := range []RankConfig{mixedJob(p), layout(mixedJob(p), 2, 2, 2, nil)} {
			t.Run(p.String()+"_"+layoutName(c), func(t *testing.T) { resumeExact(t, c) })
		}
	}
}

// TestLossScaleSkips: under --fp16 the scaler's scale, skips and doublings
// follow DeepSpeed's rule from the overflows the run met; a skipped step
// moves neither the parameters, the moments, AdamW's step nor the
// learning-rate schedule, but consumes its samples; the run still trains.
func TestLossScaleSkips(t *testing.T) {
	c := mixedJob(npu.F16)
	full := runAndGather(t, c)
	ref, _ := NewLossScaler(c.LossScale)
	skips, doubled, lrSamples := 0, false, int64(0)
	for i, s := range full.stats {
		if s.LossScale != ref.Scale() {
			t.Fatalf("step %d: loss scale %g, DeepSpeed's rule %g", s.Step, s.LossScale, ref.Scale())
		}
		if s.Skipped != (s.GradNorm == 0) || math.IsNaN(s.GradNorm) || math.IsInf(s.GradNorm, 0) {
			t.Fatalf("step %d: skipped %v with gradient norm %v", s.Step, s.Skipped, s.GradNorm)
		}
		if _, err := ref.Update(s.Skipped); err != nil {
			t.Fatal(err)
		}
		if s.Skipped {
			skips++
		}
		if s.SkippedSteps != int64(skips) || s.Consumed != int64((i+1)*c.GlobalBatch) {
			t.Fatalf("step %d: %d skipped, %d consumed; want %d, %d", s.Step, s.SkippedSteps, s.Consumed, skips, (i+1)*c.GlobalBatch)
		}
		if s.LR != c.LR.LR(lrSamples) {
			t.Fatalf("step %d: lr %v, the schedule at %d samples %v", s.Step, s.LR, lrSamples, c.LR.LR(lrSamples))
		}
		if !s.Skipped {
			lrSamples += int64(c.GlobalBatch)
		}
		// What Megatron logs for the step: the schedule and the scale
		// after it, the next step's.
		if s.NextLR != c.LR.LR(lrSamples) || s.NextLossScale != ref.Scale() {
			t.Fatalf("step %d: next lr %v, next scale %v; want %v, %v", s.Step, s.NextLR, s.NextLossScale, c.LR.LR(lrSamples), ref.Scale())
		}
		doubled = doubled || i > 0 && s.LossScale > full.stats[i-1].LossScale
	}
	if skips < 3 || !doubled {
		t.Fatalf("%d skipped steps, doubled %v: the run does not exercise the scaler", skips, doubled)
	}
	if full.optimStep != c.Steps-skips {
		t.Fatalf("AdamW took %d steps of %d with %d skipped", full.optimStep, c.Steps, skips)
	}
	if first, last := full.stats[0].Loss, full.stats[c.Steps-1].Loss; last > first-0.3 {
		t.Fatalf("loss %.3f -> %.3f: fp16 does not train", first, last)
	}
	// A skipped step leaves the state as the step before left it.
	for i, s := range full.stats {
		if !s.Skipped || i == 0 {
			continue
		}
		before, after := c, c
		before.Steps, after.Steps = i, i+1
		b, a := runAndGather(t, before), runAndGather(t, after)
		a.consumed = b.consumed
		sameState(t, "a skipped step", a, b)
		return
	}
	t.Fatal("no skipped step after the first")
}

// TestMixedLayoutsEquivalent: under --bf16 and --fp16 every layout gives
// the single rank's curve within mixedTol.
func TestMixedLayoutsEquivalent(t *testing.T) {
	for _, p := range []npu.DType{npu.BF16, npu.F16} {
		t.Run(p.String(), func(t *testing.T) {
			base := tinyJob()
			base.Precision = p
			layoutsEquivalent(t, base, 0.5, mixedTol[p], layout(base, 2, 1, 1, nil), layout(base, 1, 2, 1, nil),
				layout(base, 1, 1, 2, []int{3, 1}), layout(base, 2, 2, 2, nil))
		})
	}
}

// mixedTol bounds a layout's differences under mixed precision. A layout
// sums in float32 in other orders, as under fp32 (~1e-7 relative), but a
// matrix operand that lands within that distance of a rounding boundary
// now rounds the other way: one half ulp (2^-8 relative in bf16, 2^-11 in
// fp16) on a fraction ~1e-7/ulp of the operands, a few of the ~10^5 values
// rounded per step. Those flips, not the sums, set the differences, and 20
// AdamW steps carry them on. Measured worst over the four layouts (this run
// logs its own): bf16 loss 5.8e-6, norm 9.3e-5, parameters 6.2e-5; fp16
// loss 2.6e-6, norm 1.9e-4, parameters 3.5e-5. The bounds are ~5-10× above
// that and still below what a real mistake does (a missing all-reduce moves
// the loss by > 1e-3 within 3 steps; a tensor counted twice moves the norm
// by more than 1e-3); fp16's finer ulp does not buy a tighter bound because
// its loss scaling and fp16 gradient reduction add their own roundings.
var mixedTol = map[npu.DType]equivTol{
	npu.BF16: {loss: 5e-5, norm: 1e-3, param: 5e-4},
	npu.F16:  {loss: 5e-5, norm: 1e-3, param: 5e-4},
}

// saturating is the CPU device posing as one that saturates instead of
// producing Inf and NaN (npu.OverflowFlagger), its flag raised at the
// steps in at: the trainer asks twice a step, once to clear the flag as
// the step starts, once after the backward.
type saturating struct {
	*cpu.Device
	at    map[int]bool
	calls int
}

func (s *saturating) Saturates() bool { return true }

func (s *saturating) FloatOverflow() bool {
	s.calls++
	return s.calls%2 == 0 && s.at[s.calls/2]
}

// TestSaturatingOverflow: under --fp16 an overflow that one rank's
// saturating device flags (its gradients stay finite, so the norm cannot
// show it) skips the step on every rank of DP2×TP2×PP2 and moves the loss
// scale by DeepSpeed's rule, as an Inf norm does; the steps before it are
// the run's without the flag.
func TestSaturatingOverflow(t *testing.T) {
	c := layout(mixedJob(npu.F16), 2, 2, 2, nil)
	c.Steps = 5
	c.LossScale = LossScaleConfig{InitialScalePower: 4, Window: 100, Hysteresis: 1, MinScale: 1} // no overflow of its own
	plain, err := runJob(context.Background(), c, tinySource(t, c), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	w := newWorld(c)
	w.envs[5].Dev = &saturating{Device: cpu.New(1), at: map[int]bool{3: true}}
	flagged, err := runJob(context.Background(), c, tinySource(t, c), nil, w)
	if err != nil {
		t.Fatal(err)
	}
	for r := range c.World() {
		for i, s := range flagged.stats[r] {
			want := plain.stats[r][i]
			switch {
			case s.Step < 3 && (s.Loss != want.Loss || s.Skipped || s.LossScale != 16):
				t.Errorf("rank %d step %d: loss %v, skipped %v, scale %v; unflagged %v, 16", r, s.Step, s.Loss, s.Skipped, s.LossScale, want.Loss)
			case s.Step == 3 && (!s.Skipped || s.LossScale != 16):
				t.Errorf("rank %d step 3: skipped %v at scale %v; want skipped at 16", r, s.Skipped, s.LossScale)
			case s.Step > 3 && (s.Skipped || s.LossScale != 8):
				t.Errorf("rank %d step %d: skipped %v at scale %v; want the halved scale 8", r, s.Step, s.Skipped, s.LossScale)
			}
		}
		if plain.stats[r][2].Skipped {
			t.Fatalf("rank %d: step 3 skipped without the flag", r)
		}
	}
}
