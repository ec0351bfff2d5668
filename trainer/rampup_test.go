package trainer

import "testing"

// TestRampupIterations: the seed's runs (--rampup-batch-size 192 16
// 9_765_625, 220M samples) last as long as Megatron counts them: 441,356
// iterations for Bloom-7B (GBS 512) and 115,311 for Bloom-176B (GBS 2048,
// BigScience's logs say "iteration 12695/ 115311"); the batch follows
// Megatron's steps.
func TestRampupIterations(t *testing.T) {
	r := Rampup{Start: 192, Increment: 16, Samples: 9_765_625}
	for _, c := range []struct {
		global int
		want   int64
	}{{512, 441_356}, {2048, 115_311}} {
		if got := r.Iterations(c.global, 220_000_000); got != c.want {
			t.Errorf("GBS %d: %d iterations, want %d", c.global, got, c.want)
		}
	}
	// 20 increments of 16 from 192 to 512 over 9,765,625 samples: one
	// every 488,281.25 samples.
	for _, c := range []struct {
		consumed int64
		want     int
	}{{0, 192}, {488_281, 192}, {488_282, 208}, {9_765_625, 512}, {9_765_626, 512}} {
		if got := r.Batch(512, c.consumed); got != c.want {
			t.Errorf("after %d samples: batch %d, want %d", c.consumed, got, c.want)
		}
	}
	if err := r.Validate(512, 4); err != nil { // Bloom-7B: micro-batch 4, DP 1
		t.Error(err)
	}
	if err := (Rampup{Start: 100, Increment: 16, Samples: 10}).Validate(512, 4); err == nil {
		t.Error("a ramp-up that does not reach the batch was accepted")
	}
}

// TestEvalWindow: validation after step s reads Iters batches of the size
// step s ran, after every earlier evaluation's samples (Megatron's
// consumed_valid_samples): without a ramp-up (k−1)·Iters·global; under one
// the ramp's batches (it had read full global batches at k·Iters·global).
func TestEvalWindow(t *testing.T) {
	ev := Eval{Interval: 2, Iters: 3}
	for _, step := range []int{2, 4, 10} {
		if base, b := evalWindow(Rampup{}, 16, ev, step, false); base != int64(step/2-1)*3*16 || b != 16 {
			t.Errorf("no ramp-up, step %d: from %d, batches of %d", step, base, b)
		}
	}
	// Start 4, +4 every 16 samples up to 12 (32 samples): steps of 4, 4, 4,
	// 4 (16 samples), 8, 8 (32), then 12s.
	r := Rampup{Start: 4, Increment: 4, Samples: 32}
	for _, c := range []struct {
		step  int
		base  int64
		batch int
	}{{2, 0, 4}, {4, 3 * 4, 4}, {6, 3*4 + 3*4, 8}, {8, 3*4 + 3*4 + 3*8, 12}, {10, 3*4 + 3*4 + 3*8 + 3*12, 12}} {
		if base, b := evalWindow(r, 12, ev, c.step, false); base != c.base || b != c.batch {
			t.Errorf("ramp-up, step %d: from %d, batches of %d; want from %d, batches of %d", c.step, base, b, c.base, c.batch)
		}
	}
	// The validation at the end of training reads after every one before,
	// the last step's included (10 steps: five of them), or not (9: four).
	if base, b := evalWindow(Rampup{}, 16, ev, 10, true); base != 5*3*16 || b != 16 {
		t.Errorf("at the end of 10 steps: from %d, batches of %d", base, b)
	}
	if base, b := evalWindow(r, 12, ev, 9, true); base != 3*4+3*4+3*8+3*12 || b != 12 {
		t.Errorf("ramp-up, at the end of 9 steps: from %d, batches of %d", base, b)
	}
}
