package cpu

import (
	"math"
	"testing"
)

// TestExpfAccuracy checks expf against math.Exp over the range softmax and
// GELU use, and at its edges.
func TestExpfAccuracy(t *testing.T) {
	worst := 0.0
	for i := -200000; i <= 200000; i++ {
		x := float64(i) * 0.003 // −600 … 600
		got, want := expf(x), math.Exp(x)
		worst = max(worst, math.Abs(got-want)/want)
	}
	if worst > 1e-11 {
		t.Errorf("expf: worst relative error %.3g, want < 1e-11", worst)
	}
	for _, c := range []struct{ x, want float64 }{
		{0, 1}, {math.Inf(-1), 0}, {-1000, 0}, {1000, math.Inf(1)}, {math.Inf(1), math.Inf(1)},
	} {
		if got := expf(c.x); got != c.want {
			t.Errorf("expf(%v) = %v, want %v", c.x, got, c.want)
		}
	}
	if got := expf(math.NaN()); !math.IsNaN(got) {
		t.Errorf("expf(NaN) = %v", got)
	}
}

// TestTanhfAccuracy checks tanhf against math.Tanh, relatively, from tiny
// arguments to saturation.
func TestTanhfAccuracy(t *testing.T) {
	worst := 0.0
	for i := -100000; i <= 100000; i++ {
		x := float64(i) * 2e-4 // −20 … 20
		if i == 0 {
			continue
		}
		got, want := tanhf(x), math.Tanh(x)
		worst = max(worst, math.Abs(got-want)/math.Abs(want))
	}
	for _, x := range []float64{1e-30, -1e-12, 0.0624999, 0.0625, 0.06250001} {
		got, want := tanhf(x), math.Tanh(x)
		worst = max(worst, math.Abs(got-want)/math.Abs(want))
	}
	if worst > 5e-11 {
		t.Errorf("tanhf: worst relative error %.3g, want < 5e-11", worst)
	}
	if got := tanhf(0); got != 0 {
		t.Errorf("tanhf(0) = %v", got)
	}
	for _, x := range []float64{400, math.Inf(1)} {
		if tanhf(x) != 1 || tanhf(-x) != -1 {
			t.Errorf("tanhf(±%v) = %v, %v", x, tanhf(x), tanhf(-x))
		}
	}
}
