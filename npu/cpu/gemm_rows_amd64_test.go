//go:build !purego

package cpu

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestRowsKernelMatchesTile: the row kernels give, for the first n rows of
// an edge tile, the bits the whole tile gives (n = 1…MR−1, several depths,
// alpha 1 and not): the 14×32 AVX-512 tile's and the 6×16 AVX2 tile's.
func TestRowsKernelMatchesTile(t *testing.T) {
	type tile struct {
		name   string
		mr, nr int
		has    bool
		kern   func(kc int, a, b, c []float32, alpha float32)
		rows   func(n, kc int, a []float32, csa int, b []float32, ldb int, c []float32, ldc int, alpha float32)
	}
	for _, tl := range []tile{
		{"avx512", 14, 32, hasAVX512F(), func(kc int, a, b, c []float32, alpha float32) {
			sgemmKernel14x32(1, kc, &a[0], 14, 0, &b[0], 32, &c[0], 32, alpha, 0)
		}, sgemmRowsAVX512},
		{"avx2", gemmMR, gemmNR, hasAVX2FMA(), func(kc int, a, b, c []float32, alpha float32) {
			sgemmKernel6x16(1, kc, &a[0], 1, gemmMR, 0, &b[0], gemmNR, &c[0], gemmNR, alpha, 0)
		}, sgemmRowsAVX2},
	} {
		t.Run(tl.name, func(t *testing.T) {
			if !tl.has {
				t.Skipf("UNTESTED here: this CPU lacks %s", tl.name)
			}
			mr, nr := tl.mr, tl.nr
			r := rand.New(rand.NewPCG(3, 3))
			for _, kc := range []int{1, 3, 64, 512} {
				a, b := normals(r, mr*kc+gemmPackSlack), normals(r, kc*nr)
				for _, alpha := range []float32{1, 0.37} {
					want := make([]float32, mr*nr)
					tl.kern(kc, a, b, want, alpha)
					for n := 1; n < mr; n++ {
						got := make([]float32, mr*nr)
						for i := range got {
							got[i] = float32(math.NaN()) // rows past n must stay untouched
						}
						tl.rows(n, kc, a, mr, b, nr, got, nr, alpha)
						for i, g := range got {
							if i < n*nr && math.Float32bits(g) != math.Float32bits(want[i]) {
								t.Fatalf("kc %d alpha %v rows %d: C[%d][%d] = %v, the tile gives %v", kc, alpha, n, i/nr, i%nr, g, want[i])
							}
							if i >= n*nr && !math.IsNaN(float64(g)) {
								t.Fatalf("kc %d rows %d: row %d was written", kc, n, i/nr)
							}
						}
					}
				}
			}
		})
	}
}

// TestRowsPairMatchesTiles: the 2-row kernel over two panels gives, for
// each, the bits the whole 14×32 tile gives for its first 2 rows (panels
// packed one after another, and apart as B read in place is).
func TestRowsPairMatchesTiles(t *testing.T) {
	if !hasAVX512F() {
		t.Skip("UNTESTED here: this CPU has no AVX-512F")
	}
	r := rand.New(rand.NewPCG(4, 4))
	for _, kc := range []int{1, 3, 64, 512} {
		for _, layout := range []struct{ ldb, panel int }{{32, 32 * kc}, {96, 32}} {
			a, b := normals(r, 14*kc+gemmPackSlack), normals(r, layout.panel+(kc-1)*layout.ldb+32)
			for _, alpha := range []float32{1, 0.37} {
				got := make([]float32, 2*64)
				sgemmRows2PairAVX512(kc, a, 14, b, layout.ldb, layout.panel, got, 64, alpha)
				for p := range 2 {
					want := make([]float32, 14*32)
					sgemmKernel14x32(1, kc, &a[0], 14, 0, &b[p*layout.panel], layout.ldb, &want[0], 32, alpha, 0)
					for i := range 2 * 32 {
						g := got[(i/32)*64+p*32+i%32]
						if math.Float32bits(g) != math.Float32bits(want[i]) {
							t.Fatalf("kc %d ldb %d alpha %v panel %d: C[%d][%d] = %v, the tile gives %v", kc, layout.ldb, alpha, p, i/32, i%32, g, want[i])
						}
					}
				}
			}
		}
	}
}

// TestRowsPairInGemm: GEMMs whose last tile is a 2-row edge (m = 14q + 2),
// over whole panels in pairs and a last one alone or partial, give the bits
// they give without the pair kernel: B read in place, packed per call and
// packed once (GemmPacked), one and two KC blocks (beta 0, then 1), one and
// two threads.
func TestRowsPairInGemm(t *testing.T) {
	if !hasAVX512F() {
		t.Skip("UNTESTED here: this CPU has no AVX-512F")
	}
	noPair := *gemmAVX512
	noPair.rows2pair = nil
	r := rand.New(rand.NewPCG(5, 5))
	for _, m := range []int{2, 16, 30} {
		for _, n := range []int{64, 96, 100} {
			for _, k := range []int{5, 700} {
				for _, transB := range []bool{false, true} {
					a, b, c0 := normals(r, m*k), normals(r, k*n), normals(r, m*n)
					ldb := n
					if transB {
						ldb = k
					}
					for _, threads := range []int{1, 2} {
						p := newPool(threads)
						var got [2][]float32
						for v, im := range []*gemmImpl{gemmAVX512, &noPair} {
							prev := sgemmImpl
							sgemmImpl = im
							c := append([]float32(nil), c0...)
							sgemm(p, false, transB, m, n, k, 0.7, a, k, b, ldb, 0.5, c, n)
							sgemmImpl = prev
							pb := packB(im, transB, k, n, b, ldb)
							d := New(threads)
							cp := append([]float32(nil), c0...)
							d.GemmPacked(false, m, 0.7, Buf(a), k, pb, 0.5, Buf(cp), n)
							if !identical(c, cp) {
								t.Fatalf("m %d n %d k %d transB %v: GemmPacked differs from Gemm", m, n, k, transB)
							}
							got[v] = c
						}
						if !identical(got[0], got[1]) {
							t.Fatalf("m %d n %d k %d transB %v threads %d: the pair kernel changes the bits", m, n, k, transB, threads)
						}
					}
				}
			}
		}
	}
}

// normals is n values drawn from r's standard normal.
func normals(r *rand.Rand, n int) []float32 {
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(r.NormFloat64())
	}
	return x
}

// identical tells whether x and y hold the same bits.
func identical(x, y []float32) bool {
	for i := range x {
		if math.Float32bits(x[i]) != math.Float32bits(y[i]) {
			return false
		}
	}
	return len(x) == len(y)
}
