package cpu

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestExpSum checks the vector and scalar exponentials against math.Exp:
// within 3 ulp of float32 (Cephes' expf is within 2), exactly 0 below
// −87.34, and the same values from both paths.
func TestExpSum(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 1))
	x := make([]float32, 1003)
	for i := range x {
		x[i] = float32(r.Float64()*180 - 100)
	}
	x[0], x[1], x[2] = 0, -1e30, float32(math.Inf(-1))
	y := make([]float32, len(x))
	s := expSum(y, x, 0)
	want := 0.0
	for i, v := range x {
		w := math.Exp(float64(v))
		if v < -87.3365448 {
			w = 0
		}
		want += w
		if math.Abs(float64(y[i])-w) > 3*math.Abs(w)*0x1p-24 {
			t.Fatalf("exp(%g) = %g, want %g", v, y[i], w)
		}
		if e := exp32(v); math.Abs(float64(e-y[i])) > 2*math.Abs(w)*0x1p-24 {
			t.Fatalf("scalar exp(%g) = %g, vector %g", v, e, y[i])
		}
	}
	if math.Abs(s-want) > 3e-7*want {
		t.Fatalf("sum %g, want %g", s, want)
	}
	if s2 := expSum(nil, x, 0); s2 != s {
		t.Fatalf("sum without output %g, with %g", s2, s)
	}
}

func BenchmarkExpSum(b *testing.B) {
	x := make([]float32, 4096)
	for i := range x {
		x[i] = -float32(i%50) / 7
	}
	b.SetBytes(4 * int64(len(x)))
	for range b.N {
		expSum(nil, x, 0)
	}
}
