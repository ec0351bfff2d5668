package trainer

import (
	"encoding/json"
	"errors"
	"math"
	"math/rand"
	"strings"
	"testing"
)

func newScaler(t *testing.T, c LossScaleConfig) *LossScaler {
	t.Helper()
	s, err := NewLossScaler(c)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestLossScaleConfigValidate(t *testing.T) {
	mod := func(f func(*LossScaleConfig)) LossScaleConfig {
		c := SeedLossScaleConfig()
		f(&c)
		return c
	}
	for _, tc := range []struct {
		name string
		cfg  LossScaleConfig
		want string // a substring of the error; "" for none
	}{
		{"megatron defaults", DefaultLossScaleConfig(), ""},
		{"seed", SeedLossScaleConfig(), ""},
		{"fp16 optimizer rule", mod(func(c *LossScaleConfig) { c.Rule = RuleFP16Optimizer }), ""},
		{"scale 1, min 1", mod(func(c *LossScaleConfig) { c.InitialScalePower = 0 }), ""},
		{"negative power", mod(func(c *LossScaleConfig) { c.InitialScalePower = -1 }), "--initial-loss-scale"},
		{"power past float32", mod(func(c *LossScaleConfig) { c.InitialScalePower = 128 }), "--initial-loss-scale"},
		{"window 0", mod(func(c *LossScaleConfig) { c.Window = 0 }), "--loss-scale-window"},
		{"hysteresis 0", mod(func(c *LossScaleConfig) { c.Hysteresis = 0 }), "--hysteresis"},
		{"min 0", mod(func(c *LossScaleConfig) { c.MinScale = 0 }), "--min-loss-scale"},
		{"min NaN", mod(func(c *LossScaleConfig) { c.MinScale = math.NaN() }), "--min-loss-scale"},
		{"min above initial", mod(func(c *LossScaleConfig) { c.MinScale = 8192 }), "--min-loss-scale"},
		{"unknown rule", mod(func(c *LossScaleConfig) { c.Rule = 7 }), "rule"},
	} {
		err := tc.cfg.Validate()
		if tc.want == "" {
			if err != nil {
				t.Errorf("%s: %v", tc.name, err)
			}
			continue
		}
		if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want ErrConfig naming %s", tc.name, err, tc.want)
		}
		if _, err := NewLossScaler(tc.cfg); err == nil {
			t.Errorf("%s: NewLossScaler accepted it", tc.name)
		}
	}
}

// play feeds seq ('o' an overflow, '.' a clean step) to s and returns the
// scale after each update.
func play(t *testing.T, s *LossScaler, seq string) []float64 {
	t.Helper()
	var got []float64
	for i, c := range seq {
		skip, err := s.Update(c == 'o')
		if err != nil {
			t.Fatalf("update %d: %v", i, err)
		}
		if skip != (c == 'o') {
			t.Fatalf("update %d: skip %v for %q", i, skip, c)
		}
		got = append(got, s.Scale())
	}
	return got
}

func sameScales(a, b []float64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if math.Float64bits(a[i]) != math.Float64bits(b[i]) {
			return false
		}
	}
	return true
}

// The rule, case by case: the scale after each update, and the hysteresis
// left at the end. Power 3 (scale 8) and a window too long to matter unless
// a case sets it.
func TestLossScalerHysteresis(t *testing.T) {
	cfg := func(h, window int, consecutive bool) LossScaleConfig {
		return LossScaleConfig{InitialScalePower: 3, Window: window, Hysteresis: h, MinScale: 1, ConsecutiveHysteresis: consecutive}
	}
	for _, tc := range []struct {
		name  string
		cfg   LossScaleConfig
		seq   string
		want  []float64
		wantH int
	}{
		// hysteresis 2: the first overflow skips and keeps the scale, the second halves it.
		{"h2 first overflow keeps", cfg(2, 500, false), "o", []float64{8}, 1},
		{"h2 second overflow halves", cfg(2, 500, false), "oo", []float64{8, 4}, 1},
		// Once spent, the hysteresis stays spent until a doubling: every
		// further overflow halves.
		{"h2 spent keeps halving", cfg(2, 500, false), "ooo", []float64{8, 4, 2}, 1},
		// Without consecutive_hysteresis, clean steps in between do not refill it.
		{"h2 not consecutive", cfg(2, 500, false), "o...o", []float64{8, 8, 8, 8, 4}, 1},
		// With it, any clean step refills it: only back-to-back overflows halve.
		{"h2 consecutive", cfg(2, 500, true), "o.o.o", []float64{8, 8, 8, 8, 8}, 1},
		{"h2 consecutive refilled", cfg(2, 500, true), "o.", []float64{8, 8}, 2},
		{"h2 consecutive pair halves", cfg(2, 500, true), ".oo", []float64{8, 8, 4}, 1},
		{"h1 every overflow halves", cfg(1, 500, false), "o.o", []float64{4, 4, 2}, 1},
		{"h3 third halves", cfg(3, 500, false), "ooo.o", []float64{8, 8, 4, 4, 2}, 1},
		// Window 2: overflow at 0, clean at 1 ((1-0)%2 ≠ 0), clean at 2
		// ((2-0)%2 == 0) doubles and refills; the next overflow only spends.
		{"doubling refills", cfg(2, 2, false), "o..o", []float64{8, 8, 16, 16}, 1},
		{"doubling refills consecutive", cfg(2, 2, true), "o..o", []float64{8, 8, 16, 16}, 1},
	} {
		s := newScaler(t, tc.cfg)
		got := play(t, s, tc.seq)
		if !sameScales(got, tc.want) || s.State().CurHysteresis != tc.wantH {
			t.Errorf("%s: %q gave scales %v, hysteresis %d; want %v, %d", tc.name, tc.seq, got, s.State().CurHysteresis, tc.want, tc.wantH)
		}
	}
}

// Window 3 from scale 1. DynamicLossScaler doubles when (cur_iter −
// last_overflow_iter) is a multiple of 3, last_overflow_iter starting at
// −1: at iterations 2, 5, 8 (3 clean updates each). FP16_Optimizer doubles
// when cur_iter − last_overflow_iter − 1 is a positive multiple of 3: at 3,
// 6 (4 clean updates the first time, as after an overflow).
func TestLossScalerWindow(t *testing.T) {
	for _, tc := range []struct {
		rule LossScaleRule
		seq  string
		want []float64
	}{
		{RuleLossScaler, ".........", []float64{1, 1, 2, 2, 2, 4, 4, 4, 8}},
		{RuleFP16Optimizer, ".........", []float64{1, 1, 1, 2, 2, 2, 4, 4, 4}},
		// Overflow at 2 (hysteresis 1 here): 1 → 0.5, then doubles at 2+3 = 5.
		{RuleLossScaler, "..o.....", []float64{1, 1, 0.5, 0.5, 0.5, 1, 1, 1}},
		// FP16_Optimizer: doubles at 2+1+3 = 6.
		{RuleFP16Optimizer, "..o.....", []float64{1, 1, 0.5, 0.5, 0.5, 0.5, 1, 1}},
	} {
		s := newScaler(t, LossScaleConfig{InitialScalePower: 0, Window: 3, Hysteresis: 1, MinScale: 0.5, Rule: tc.rule})
		if got := play(t, s, tc.seq); !sameScales(got, tc.want) {
			t.Errorf("%v %q: scales %v, want %v", tc.rule, tc.seq, got, tc.want)
		}
	}
}

// The scale never goes below --min-loss-scale. DynamicLossScaler stops the
// run when an overflow would halve a scale already there (and leaves its
// state alone); FP16_Optimizer just stays at the minimum.
func TestLossScalerMinimum(t *testing.T) {
	for _, tc := range []struct {
		name      string
		cfg       LossScaleConfig
		seq       string // all must succeed
		want      []float64
		errOnNext bool // one more overflow fails
	}{
		{"halves to the minimum", LossScaleConfig{InitialScalePower: 2, Window: 9, Hysteresis: 1, MinScale: 1}, "oo", []float64{2, 1}, true},
		{"clamps to an odd minimum", LossScaleConfig{InitialScalePower: 2, Window: 9, Hysteresis: 1, MinScale: 1.5}, "oo", []float64{2, 1.5}, true},
		{"hysteresis first at the minimum", LossScaleConfig{InitialScalePower: 0, Window: 9, Hysteresis: 2, MinScale: 1}, "o", []float64{1}, true},
		{"consecutive at the minimum", LossScaleConfig{InitialScalePower: 0, Window: 9, Hysteresis: 2, MinScale: 1, ConsecutiveHysteresis: true}, "o.o.", []float64{1, 1, 1, 1}, false},
		{"fp16 optimizer stays", LossScaleConfig{InitialScalePower: 1, Window: 9, Hysteresis: 2, MinScale: 1, Rule: RuleFP16Optimizer}, "oooo", []float64{1, 1, 1, 1}, false},
	} {
		s := newScaler(t, tc.cfg)
		if got := play(t, s, tc.seq); !sameScales(got, tc.want) {
			t.Errorf("%s: scales %v, want %v", tc.name, got, tc.want)
			continue
		}
		before := s.State()
		skip, err := s.Update(true)
		if !tc.errOnNext {
			if err != nil || !skip {
				t.Errorf("%s: one more overflow gave %v, %v", tc.name, skip, err)
			}
			continue
		}
		if !errors.Is(err, ErrLossScaleAtMinimum) || !skip {
			t.Errorf("%s: one more overflow gave %v, %v; want a skip and ErrLossScaleAtMinimum", tc.name, skip, err)
		}
		if s.State() != before {
			t.Errorf("%s: the failed update changed the state from %+v to %+v", tc.name, before, s.State())
		}
	}
}

// seedOverflows are the overflowing iterations of the 2000-step scripts: a
// back-to-back pair, a lone one, a pair three apart, and a late lone one.
var seedOverflows = map[int]bool{3: true, 4: true, 700: true, 1200: true, 1203: true, 1900: true}

type segment struct {
	from  int     // first iteration that uses the scale
	scale float64 // the scale Scale() gives before iteration from's update
}

// The seed's settings (scale 2^12, window 500, hysteresis 2, minimum 1)
// over 2000 iterations; each trajectory derived by hand in its comment.
func TestLossScalerTrajectory(t *testing.T) {
	fp16 := SeedLossScaleConfig()
	fp16.Rule = RuleFP16Optimizer
	consec := SeedLossScaleConfig()
	consec.ConsecutiveHysteresis = true
	for _, tc := range []struct {
		name      string
		cfg       LossScaleConfig
		overflows map[int]bool
		segs      []segment
		final     LossScaleState
	}{
		// DynamicLossScaler, hysteresis not consecutive.
		//   3: hysteresis 2 → 1, scale kept. 4: hysteresis spent, 4096 → 2048.
		//   504: (504−4)%500 = 0, 2048 → 4096, hysteresis refilled to 2.
		//   700: 2 → 1, kept. 701…1199: (i−700)%500 ≠ 0, nothing refills it.
		//   1200: spent, 4096 → 2048. 1203: still spent, 2048 → 1024.
		//   1703: (1703−1203)%500 = 0, 1024 → 2048, refilled.
		//   1900: 2 → 1, kept; 2400 would double, past the end.
		{"seed", SeedLossScaleConfig(), seedOverflows,
			[]segment{{0, 4096}, {5, 2048}, {505, 4096}, {1201, 2048}, {1204, 1024}, {1704, 2048}},
			LossScaleState{Scale: 2048, CurIter: 2000, LastOverflowIter: 1900, CurHysteresis: 1, Skipped: 6}},
		// consecutive_hysteresis: a clean iteration refills the hysteresis.
		//   3: 2 → 1. 4: 4096 → 2048. 5: refilled. 504: 2048 → 4096.
		//   700: 2 → 1, 701 refills. 1200: 2 → 1, kept; 1201 refills.
		//   1203: 2 → 1, kept. 1703: 4096 → 8192. 1900: 2 → 1, 1901 refills.
		{"seed consecutive", consec, seedOverflows,
			[]segment{{0, 4096}, {5, 2048}, {505, 4096}, {1704, 8192}},
			LossScaleState{Scale: 8192, CurIter: 2000, LastOverflowIter: 1900, CurHysteresis: 2, Skipped: 6}},
		// FP16_Optimizer (ZeRO 0): every overflow halves; a doubling needs
		// i − last − 1 = 500.
		//   3: 4096 → 2048. 4: → 1024. 505 (505−4−1 = 500): → 2048.
		//   700: → 1024. 1200 (before 1201 could double): → 512.
		//   1203: → 256. 1704 (1704−1203−1 = 500): → 512. 1900: → 256.
		{"seed fp16 optimizer", fp16, seedOverflows,
			[]segment{{0, 4096}, {4, 2048}, {5, 1024}, {506, 2048}, {701, 1024}, {1201, 512}, {1204, 256}, {1705, 512}, {1901, 256}},
			LossScaleState{Scale: 256, CurIter: 2000, LastOverflowIter: 1900, CurHysteresis: 2, Skipped: 6}},
		// No overflow: DynamicLossScaler doubles at 499, 999, 1499, 1999.
		{"seed clean", SeedLossScaleConfig(), nil,
			[]segment{{0, 4096}, {500, 8192}, {1000, 16384}, {1500, 32768}},
			LossScaleState{Scale: 65536, CurIter: 2000, LastOverflowIter: -1, CurHysteresis: 2}},
		// No overflow: FP16_Optimizer doubles at 500, 1000, 1500.
		{"seed clean fp16 optimizer", fp16, nil,
			[]segment{{0, 4096}, {501, 8192}, {1001, 16384}, {1501, 32768}},
			LossScaleState{Scale: 32768, CurIter: 2000, LastOverflowIter: -1, CurHysteresis: 2}},
	} {
		s := newScaler(t, tc.cfg)
		seg := 0
		for i := 0; i < 2000; i++ {
			if seg+1 < len(tc.segs) && tc.segs[seg+1].from == i {
				seg++
			}
			if s.Scale() != tc.segs[seg].scale {
				t.Fatalf("%s: iteration %d runs at scale %g, want %g", tc.name, i, s.Scale(), tc.segs[seg].scale)
			}
			skip, err := s.Update(tc.overflows[i])
			if err != nil || skip != tc.overflows[i] {
				t.Fatalf("%s: iteration %d: skip %v, %v", tc.name, i, skip, err)
			}
		}
		if s.State() != tc.final || s.Skipped() != tc.final.Skipped {
			t.Errorf("%s: final state %+v, want %+v", tc.name, s.State(), tc.final)
		}
	}
}

// trajectory runs n iterations from s and returns the bits of the scale
// before each one.
func trajectory(t *testing.T, s *LossScaler, from, to int, overflows map[int]bool) []uint64 {
	t.Helper()
	var bits []uint64
	for i := from; i < to; i++ {
		bits = append(bits, math.Float64bits(s.Scale()))
		if _, err := s.Update(overflows[i]); err != nil {
			t.Fatalf("iteration %d: %v", i, err)
		}
	}
	return bits
}

// A run saved and restored at any iteration, through JSON as a checkpoint
// holds it, continues with the same scales and ends in the same state.
func TestLossScalerRestoreMidway(t *testing.T) {
	fp16 := SeedLossScaleConfig()
	fp16.Rule = RuleFP16Optimizer
	consec := SeedLossScaleConfig()
	consec.ConsecutiveHysteresis = true
	for _, cfg := range []LossScaleConfig{SeedLossScaleConfig(), consec, fp16} {
		whole := newScaler(t, cfg)
		want := trajectory(t, whole, 0, 2000, seedOverflows)
		for _, cut := range []int{1, 4, 5, 504, 505, 1000, 1201, 1703, 1999} {
			first := newScaler(t, cfg)
			got := trajectory(t, first, 0, cut, seedOverflows)
			blob, err := json.Marshal(first.State())
			if err != nil {
				t.Fatal(err)
			}
			var st LossScaleState
			if err := json.Unmarshal(blob, &st); err != nil {
				t.Fatal(err)
			}
			second := newScaler(t, cfg)
			if err := second.Restore(st); err != nil {
				t.Fatalf("%v cut %d: %v", cfg.Rule, cut, err)
			}
			got = append(got, trajectory(t, second, cut, 2000, seedOverflows)...)
			for i := range want {
				if got[i] != want[i] {
					t.Fatalf("%+v cut at %d: iteration %d scale %g, uninterrupted %g", cfg, cut, i, math.Float64frombits(got[i]), math.Float64frombits(want[i]))
				}
			}
			if second.State() != whole.State() {
				t.Errorf("%+v cut at %d: final state %+v, uninterrupted %+v", cfg, cut, second.State(), whole.State())
			}
		}
	}
}

func TestLossScaleStateJSON(t *testing.T) {
	blob, err := json.Marshal(newScaler(t, SeedLossScaleConfig()).State())
	if err != nil {
		t.Fatal(err)
	}
	const want = `{"scale":4096,"cur_iter":0,"last_overflow_iter":-1,"cur_hysteresis":2,"skipped_steps":0}`
	if string(blob) != want {
		t.Errorf("state JSON %s, want %s", blob, want)
	}
}

func TestLossScalerRestoreRejects(t *testing.T) {
	good := LossScaleState{Scale: 1024, CurIter: 10, LastOverflowIter: 9, CurHysteresis: 1, Skipped: 3}
	if err := newScaler(t, SeedLossScaleConfig()).Restore(good); err != nil {
		t.Fatalf("a valid state: %v", err)
	}
	mod := func(f func(*LossScaleState)) LossScaleState {
		st := good
		f(&st)
		return st
	}
	for _, tc := range []struct {
		name string
		st   LossScaleState
		want string
	}{
		{"below the minimum", mod(func(s *LossScaleState) { s.Scale = 0.5 }), "--min-loss-scale"},
		{"infinite scale", mod(func(s *LossScaleState) { s.Scale = math.Inf(1) }), "--min-loss-scale"},
		{"NaN scale", mod(func(s *LossScaleState) { s.Scale = math.NaN() }), "--min-loss-scale"},
		{"overflow not yet happened", mod(func(s *LossScaleState) { s.LastOverflowIter = 10 }), "last overflow"},
		{"overflow before -1", mod(func(s *LossScaleState) { s.LastOverflowIter = -2 }), "last overflow"},
		{"negative iteration", mod(func(s *LossScaleState) { s.CurIter, s.LastOverflowIter, s.Skipped = -1, -1, 0 }), "last overflow"},
		{"hysteresis above the flag", mod(func(s *LossScaleState) { s.CurHysteresis = 3 }), "--hysteresis"},
		{"hysteresis 0", mod(func(s *LossScaleState) { s.CurHysteresis = 0 }), "--hysteresis"},
		{"more skipped than run", mod(func(s *LossScaleState) { s.Skipped = 11 }), "skipped"},
	} {
		s := newScaler(t, SeedLossScaleConfig())
		before := s.State()
		err := s.Restore(tc.st)
		if !errors.Is(err, ErrMismatch) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want ErrMismatch naming %q", tc.name, err, tc.want)
		}
		if s.State() != before {
			t.Errorf("%s: a refused Restore changed the state", tc.name)
		}
	}
}

// oracle is the DeepSpeed rule restated over a clean streak (updates since
// the last overflow, or since the start, this one included) instead of
// iteration numbers: DynamicLossScaler doubles when the streak is a
// multiple of the window, FP16_Optimizer when it is one more than one.
type oracle struct {
	c              LossScaleConfig
	scale          float64
	streak, budget int
}

func (o *oracle) step(overflow bool) (atMin bool) {
	c := o.c
	if overflow {
		o.streak = 0
		if c.Rule == RuleFP16Optimizer {
			o.scale = math.Max(o.scale/2, c.MinScale)
			return false
		}
		if o.budget > 1 {
			o.budget--
			return false
		}
		if o.scale == c.MinScale {
			return true
		}
		o.scale = math.Max(o.scale/2, c.MinScale)
		return false
	}
	o.streak++
	if c.Rule == RuleFP16Optimizer {
		if o.streak > 1 && (o.streak-1)%c.Window == 0 {
			o.scale *= 2
		}
		return false
	}
	if c.ConsecutiveHysteresis {
		o.budget = c.Hysteresis
	}
	if o.streak%c.Window == 0 {
		o.budget = c.Hysteresis
		o.scale *= 2
	}
	return false
}

// Random overflow sequences over many settings: the scaler and the oracle
// agree on every scale and on where the run stops at the minimum.
func TestLossScalerOracle(t *testing.T) {
	rng := rand.New(rand.NewSource(14))
	n := 0
	for _, rule := range []LossScaleRule{RuleLossScaler, RuleFP16Optimizer} {
		for _, window := range []int{1, 2, 3, 7} {
			for _, h := range []int{1, 2, 3} {
				for _, consecutive := range []bool{false, true} {
					for _, minScale := range []float64{1, 0.75, 8} {
						for _, p := range []float64{0.05, 0.3, 0.7} {
							c := LossScaleConfig{InitialScalePower: 4, Window: window, Hysteresis: h, MinScale: minScale, ConsecutiveHysteresis: consecutive, Rule: rule}
							s := newScaler(t, c)
							o := &oracle{c: c, scale: 16, budget: h}
							for i := 0; i < 3000; i++ {
								overflow := rng.Float64() < p
								atMin := o.step(overflow)
								_, err := s.Update(overflow)
								if atMin != errors.Is(err, ErrLossScaleAtMinimum) || (!atMin && err != nil) {
									t.Fatalf("%+v iteration %d: oracle at minimum %v, scaler %v", c, i, atMin, err)
								}
								if atMin {
									break
								}
								if math.Float64bits(s.Scale()) != math.Float64bits(o.scale) {
									t.Fatalf("%+v iteration %d: scale %g, oracle %g", c, i, s.Scale(), o.scale)
								}
								n++
							}
						}
					}
				}
			}
		}
	}
	t.Logf("%d updates compared", n)
}

// GradFactor is 1/scale while the unscaled norm is within --clip-grad, and
// 1/(scale·(norm/scale + 1e-6)/clip) beyond it, DeepSpeed's combined scale.
func TestGradFactor(t *testing.T) {
	s := newScaler(t, SeedLossScaleConfig()) // scale 4096
	for _, tc := range []struct {
		scaledNorm, clip, want float64
	}{
		{0.5 * 4096, 1, 1.0 / 4096},
		{1e9, 0, 1.0 / 4096}, // clipping off
		{3 * 4096, 1, 1 / ((3 + 1e-6) / 1 * 4096)},
		{3 * 4096, 2, 1 / ((3 + 1e-6) / 2 * 4096)},
	} {
		if got := s.GradFactor(tc.scaledNorm, tc.clip); got != tc.want {
			t.Errorf("GradFactor(%g, %g) = %g, want %g", tc.scaledNorm, tc.clip, got, tc.want)
		}
	}
}
