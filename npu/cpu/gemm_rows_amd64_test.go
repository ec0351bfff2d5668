//go:build !purego

package cpu

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestRowsKernelMatchesTile: the row kernels give, for the first n rows of
// an edge tile, the bits the whole 14×32 tile gives (n = 1…13, several
// depths, alpha 1 and not).
func TestRowsKernelMatchesTile(t *testing.T) {
	if !hasAVX512F() {
		t.Skip("UNTESTED here: this CPU has no AVX-512F")
	}
	r := rand.New(rand.NewPCG(3, 3))
	for _, kc := range []int{1, 3, 64, 512} {
		a := make([]float32, 14*kc+gemmPackSlack)
		b := make([]float32, kc*32)
		for i := range a {
			a[i] = float32(r.NormFloat64())
		}
		for i := range b {
			b[i] = float32(r.NormFloat64())
		}
		for _, alpha := range []float32{1, 0.37} {
			want := make([]float32, 14*32)
			sgemmKernel14x32(1, kc, &a[0], 14, 0, &b[0], 32, &want[0], 32, alpha, 0)
			for n := 1; n < 14; n++ {
				got := make([]float32, 14*32)
				for i := range got {
					got[i] = float32(math.NaN()) // rows past n must stay untouched
				}
				sgemmRowsAVX512(n, kc, a, 14, b, 32, got, 32, alpha)
				for i, g := range got {
					if i < n*32 && math.Float32bits(g) != math.Float32bits(want[i]) {
						t.Fatalf("kc %d alpha %v rows %d: C[%d][%d] = %v, the tile gives %v", kc, alpha, n, i/32, i%32, g, want[i])
					}
					if i >= n*32 && !math.IsNaN(float64(g)) {
						t.Fatalf("kc %d rows %d: row %d was written", kc, n, i/32)
					}
				}
			}
		}
	}
}
