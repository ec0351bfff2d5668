package cpu

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"bloom/internal/half"
	"bloom/npu"
)

// TestGemmPackedBitIdentical checks that GemmPacked gives Gemm's bits, B
// stored either way, for every kernel this CPU has, on 1, 2 and 3 threads,
// over shapes with partial tiles and several KC and NC blocks; beta ≠ 0 and
// a transposed A included. The weights of a decode step (m of 1 to 16,
// B stored n×k) are the case it is for: every row count of the kernels'
// paths (1, 2 and 4 rows, gemmImpl.once's 8 and 12, the tile's 14).
func TestGemmPackedBitIdentical(t *testing.T) {
	shapes := [][3]int{ // m, n, k
		{1, 1, 1}, {1, 33, 7}, {3, 100, 513}, {16, 1024, 256}, {16, 257, 1100},
		{1, 2100, 64}, {14, 64, 1025}, {29, 70, 300}, {64, 200, 90}, {5, 3000, 40},
		{8, 300, 600}, {9, 100, 513}, {12, 70, 1030}, {13, 64, 200},
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

// TestGemmPackedNoDepth: with k = 0 GemmPacked scales C by beta, as Gemm
// does, for weights packed in float32 and in a half type.
func TestGemmPackedNoDepth(t *testing.T) {
	d := New(1)
	for _, pb := range []npu.PackedB{d.PackB(true, 0, 3, Buf(nil), 1), d.PackBHalf(true, 0, 3, HalfBuf{npu.F16, nil}, 1)} {
		c := []float32{1, 2, 3, 4, 5, 6}
		d.GemmPacked(false, 2, 1, Buf(nil), 1, pb, 0.5, Buf(c), 3)
		if want := []float32{0.5, 1, 1.5, 2, 2.5, 3}; fmt.Sprint(c) != fmt.Sprint(want) {
			t.Errorf("%T: C = %v, want %v", pb, c, want)
		}
	}
}

// TestGemmPackedHalf checks that a weight packed in its half type
// (PackBHalf) gives GemmPacked's bits over the widened weight packed by
// PackB, fp16 and bf16, B stored either way, for every float32 kernel this
// CPU has — reading the half panels in place where it has kernels for them
// (AVX-512), and widened once as they are packed (all) — on 1, 2 and 3
// threads: decode steps (the 2-row edge of two paired panels included),
// several KC blocks, partial panels, and products of many rows that share
// the loop nest across threads.
func TestGemmPackedHalf(t *testing.T) {
	shapes := [][3]int{ // m, n, k
		{1, 33, 7}, {2, 96, 64}, {4, 64, 300}, {16, 1024, 256}, {16, 257, 1100}, {30, 160, 513},
		{5, 3000, 40}, {64, 200, 90}, {300, 130, 600}, {8, 100, 600}, {12, 70, 1030}, {9, 64, 77},
	}
	type variant struct {
		name    string
		im      *gemmImpl
		inPlace bool
	}
	var variants []variant
	for _, im := range gemmImpls {
		if im.pairs {
			continue
		}
		if im.halfF16 != nil {
			variants = append(variants, variant{im.name + "/in place", im, true})
		}
		variants = append(variants, variant{im.name + "/widened", im, false})
	}
	for _, v := range variants {
		im := v.im
		t.Run(v.name, func(t *testing.T) {
			useGemm(t, im)
			if !v.inPlace {
				f16, bf16 := im.halfF16, im.halfBF16
				im.halfF16, im.halfBF16 = nil, nil
				t.Cleanup(func() { im.halfF16, im.halfBF16 = f16, bf16 })
			}
			rng := rand.New(rand.NewPCG(5, 6))
			for _, dt := range []npu.DType{npu.F16, npu.BF16} {
				toHalf, widen := half.ToF16, half.FromF16
				if dt == npu.BF16 {
					toHalf, widen = half.ToBF16, half.FromBF16
				}
				for _, threads := range []int{1, 2, 3} {
					d := New(threads)
					for si, s := range shapes {
						m, n, k := s[0], s[1], s[2]
						// A read in place stored k×m in every other shape;
						// C overwritten (beta 0, as a model's products) in
						// every third.
						tA, beta := si%2 == 1, float32(0.5)
						if si%3 == 0 {
							beta = 0
						}
						ar, ac := stored(tA, m, k)
						for _, tB := range []bool{true, false} {
							br, bc := stored(tB, k, n)
							lda, ldb, ldc := ac+3, bc+1, n+2
							a := randPadded(rng, ar, ac, lda, float32(math.NaN()))
							hb := make([]uint16, len(randPadded(rng, br, bc, ldb, 0)))
							toHalf(hb, randPadded(rng, br, bc, ldb, float32(math.NaN())))
							wb := make([]float32, len(hb))
							widen(wb, hb)
							c0 := randPadded(rng, m, n, ldc, 0)
							want := append([]float32(nil), c0...)
							d.GemmPacked(tA, m, 1.25, Buf(a), lda, d.PackB(tB, k, n, Buf(wb), ldb), beta, Buf(want), ldc)
							pb := d.PackBHalf(tB, k, n, HalfBuf{dt, hb}, ldb)
							if kk, nn := pb.Dims(); kk != k || nn != n {
								t.Fatalf("Dims() = %d, %d, want %d, %d", kk, nn, k, n)
							}
							if p := pb.(*packedB); v.inPlace && dt == npu.F16 && (p.hk == nil || p.h == nil) || !v.inPlace && (p.hk != nil || p.h != nil) {
								t.Fatalf("%v: in place %v, kernels %v, half panels %v", dt, v.inPlace, p.hk != nil, p.h != nil)
							}
							got := append([]float32(nil), c0...)
							d.GemmPacked(tA, m, 1.25, Buf(a), lda, pb, beta, Buf(got), ldc)
							for i := range want {
								if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
									t.Fatalf("%v threads %d m,n,k %d,%d,%d transA %v transB %v beta %v: c[%d] = %v, the widened weight gives %v",
										dt, threads, m, n, k, tA, tB, beta, i, got[i], want[i])
								}
							}
						}
					}
				}
			}
		})
	}
}
