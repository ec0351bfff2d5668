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

// TestSoftmaxAllBits: softmaxScores over keys that are all tokens (the
// vector path) gives the scalar loop's bits: lengths around the 8-value
// blocks, scores at several scales, ±0, ±Inf, NaN, slopes of both signs.
func TestSoftmaxAllBits(t *testing.T) {
	if !hasVec {
		t.Skip("UNTESTED here: this CPU has no AVX2/FMA (the scalar loop is the only path)")
	}
	ref := func(pr, pos []float32, slope float32) {
		m := negInf
		for j := range pr {
			pr[j] += float32(slope * pos[j])
			m = max(m, pr[j])
		}
		inv := 1 / expSum(pr, pr, m)
		for j := range pr {
			pr[j] = float32(float64(pr[j]) * inv)
		}
	}
	r := rand.New(rand.NewPCG(6, 6))
	special := []float32{0, float32(math.Copysign(0, -1)), float32(math.Inf(1)), float32(math.Inf(-1)), float32(math.NaN()), 1e30, -1e30}
	for _, n := range []int{8, 9, 15, 16, 17, 31, 64, 129, 1000} {
		for trial := range 6 {
			pr, pos := make([]float32, n), make([]float32, n)
			for j := range pr {
				pr[j], pos[j] = float32(r.NormFloat64()*math.Pow(10, float64(trial%3))), float32(j)
			}
			if trial >= 3 {
				pr[r.IntN(n)] = special[(trial+n)%len(special)]
			}
			slope := float32(r.NormFloat64())
			want := append([]float32(nil), pr...)
			ref(want, pos, slope)
			softmaxScores(pr, pos, nil, 0, n-1, slope)
			for j := range pr {
				if math.Float32bits(pr[j]) != math.Float32bits(want[j]) && !(math.IsNaN(float64(pr[j])) && math.IsNaN(float64(want[j]))) {
					t.Fatalf("n %d trial %d: p[%d] = %v, the scalar loop gives %v", n, trial, j, pr[j], want[j])
				}
			}
		}
	}
}
