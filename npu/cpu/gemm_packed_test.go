package cpu

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestGemmPackedBitIdentical checks that GemmPacked gives Gemm's bits, B
// stored either way, for every kernel this CPU has, on 1, 2 and 3 threads,
// over shapes with partial tiles and several KC and NC blocks; beta ≠ 0 and
// a transposed A included. The weights of a decode step (m of 1 to 16,
// B stored n×k) are the case it is for.
func TestGemmPackedBitIdentical(t *testing.T) {
	shapes := [][3]int{ // m, n, k
		{1, 1, 1}, {1, 33, 7}, {3, 100, 513}, {16, 1024, 256}, {16, 257, 1100},
		{1, 2100, 64}, {14, 64, 1025}, {29, 70, 300}, {64, 200, 90}, {5, 3000, 40},
	}
	for _, im := range gemmImpls {
		t.Run(im.name, func(t *testing.T) {
			useGemm(t, im)
			rng := rand.New(rand.NewPCG(3, 4))
			for _, threads := range []int{1, 2, 3} {
				d := New(threads)
				for _, s := range shapes {
					m, n, k := s[0], s[1], s[2]
					for _, tA := range []bool{false, true} {
						for _, tB := range []bool{true, false} {
							ar, ac := stored(tA, m, k)
							br, bc := stored(tB, k, n)
							lda, ldb, ldc := ac+3, bc+1, n+2
							a := randPadded(rng, ar, ac, lda, float32(math.NaN()))
							b := randPadded(rng, br, bc, ldb, float32(math.NaN()))
							c0 := randPadded(rng, m, n, ldc, 0)
							beta := float32(0)
							if tA {
								beta = 0.5
							}
							want := append([]float32(nil), c0...)
							d.Gemm(tA, tB, m, n, k, 1.25, Buf(a), lda, Buf(b), ldb, beta, Buf(want), ldc)
							pb := d.PackB(tB, k, n, Buf(b), ldb)
							if kk, nn := pb.Dims(); kk != k || nn != n {
								t.Fatalf("Dims() = %d, %d, want %d, %d", kk, nn, k, n)
							}
							got := append([]float32(nil), c0...)
							d.GemmPacked(tA, m, 1.25, Buf(a), lda, pb, beta, Buf(got), ldc)
							for i := range want {
								if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
									t.Fatalf("threads %d m,n,k %d,%d,%d transA %v transB %v: c[%d] = %v, Gemm gives %v",
										threads, m, n, k, tA, tB, i, got[i], want[i])
								}
							}
						}
					}
				}
			}
		})
	}
}
