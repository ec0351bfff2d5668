package cpu

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestAddBits: add (vector on CPUs with AVX2) gives each sum's bits as the
// scalar loop does, for lengths around the 8- and 32-value blocks, with
// NaN, ±Inf, ±0 and subnormals among the values.
func TestAddBits(t *testing.T) {
	r := rand.New(rand.NewPCG(4, 4))
	special := []float32{float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1)), 0, float32(math.Copysign(0, -1)), math.SmallestNonzeroFloat32}
	for _, n := range []int{0, 1, 7, 8, 9, 31, 32, 33, 40, 1000} {
		y, x := make([]float32, n), make([]float32, n)
		for i := range y {
			y[i], x[i] = float32(r.NormFloat64()*100), float32(r.NormFloat64())
			if i%11 == 3 {
				x[i] = special[i%len(special)]
			}
		}
		want := append([]float32(nil), y...)
		for i := range want {
			want[i] += x[i]
		}
		add(y, x)
		for i := range y {
			if math.Float32bits(y[i]) != math.Float32bits(want[i]) {
				t.Fatalf("n %d: y[%d] = %v, the scalar loop gives %v", n, i, y[i], want[i])
			}
		}
	}
}
