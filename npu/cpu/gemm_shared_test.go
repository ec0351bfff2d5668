package cpu

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"bloom/npu"
)

// sharedCases take the shared nest (gemm_shared.go) on 2 threads with every
// kernel, blocked by small (see smallBlocks): several NC blocks and KC steps
// with B packed by groups, the last group partial; B small enough to be read
// in place (no pack groups) with a partial panel; partial tiles and chunks.
var sharedCases = []gemmCase{
	{transA: false, transB: true, m: 130, n: 1100, k: 150, padA: 1, padC: 2, alpha: 1, beta: 0.5},
	{transA: true, transB: false, m: 230, n: 100, k: 200, padB: 3, alpha: -1.5, beta: 0},
	{transA: false, transB: false, m: 300, n: 40, k: 100, padC: 1, alpha: 1, beta: 1},
}

// smallBlocks is im with small blocks, so that small cases take many steps
// of the nest (KC = 64 values, MC = 3 tiles, NC = 16 panels: two pack groups).
func smallBlocks(im *gemmImpl) *gemmImpl {
	s := *im
	s.kc, s.mc, s.nc = 64, 3*im.mr, 2*gemmPackGroup*im.nr
	return &s
}

// TestGemmSharedMatchesOneThread checks that the shared nest gives the bits
// of one thread's, on 2, 3 and 4 threads, for every float32 kernel: float32
// operands, half operands widened by the packers (fp16, bf16), B packed once
// by PackB, and the k-pair packers with the bf16 model kernel.
func TestGemmSharedMatchesOneThread(t *testing.T) {
	type run func(p *pool, tc gemmCase, c []float32)
	check := func(t *testing.T, name string, tc gemmCase, c0 []float32, ldc int, f run) {
		t.Helper()
		want := append([]float32(nil), c0...)
		f(serialPool, tc, want)
		for _, threads := range []int{2, 3, 4} {
			got := append([]float32(nil), c0...)
			f(newPool(threads), tc, got)
			for i := range got {
				if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
					t.Fatalf("%s %v: %d threads: C[%d][%d] = %v, one thread gives %v", name, tc, threads, i/ldc, i%ldc, got[i], want[i])
				}
			}
		}
	}
	rng := rand.New(rand.NewPCG(21, 22))
	for _, im := range gemmImpls {
		t.Run(im.name, func(t *testing.T) {
			im := smallBlocks(im)
			useGemm(t, im)
			for _, tc := range sharedCases {
				if tiles := ceilDiv(tc.m, im.mr); tiles < 4*2 {
					t.Fatalf("%v: %d row tiles do not take the shared nest on 2 threads", tc, tiles)
				}
				o := newGemmOperands(tc, rng)
				check(t, "sgemm", tc, o.c, o.ldc, func(p *pool, tc gemmCase, c []float32) {
					sgemm(p, tc.transA, tc.transB, tc.m, tc.n, tc.k, tc.alpha, o.a, o.lda, o.b, o.ldb, tc.beta, c, o.ldc)
				})
				pb := packB(im, tc.transB, tc.k, tc.n, o.b, o.ldb)
				check(t, "packed", tc, o.c, o.ldc, func(p *pool, tc gemmCase, c []float32) {
					d := &Device{pool: p}
					d.GemmPacked(tc.transA, tc.m, tc.alpha, Buf(o.a), o.lda, pb, tc.beta, Buf(c), o.ldc)
				})
				for _, dt := range []npu.DType{npu.F16, npu.BF16} {
					h := newHalfOperands(dt, tc, rng)
					check(t, fmt.Sprint(dt), tc, h.c, h.ldc, func(p *pool, tc gemmCase, c []float32) {
						hgemm(p, dt, tc.transA, tc.transB, tc.m, tc.n, tc.k, tc.alpha, h.ha, h.lda, h.hb, h.ldb, tc.beta, c, h.ldc)
					})
				}
			}
		})
	}
	t.Run("bf16model", func(t *testing.T) {
		useBgemm(t, smallBlocks(gemmBF16Model))
		for _, tc := range sharedCases[:2] {
			tc.n = min(tc.n, 600) // the model kernel is slow
			h := newHalfOperands(npu.BF16, tc, rng)
			check(t, "bf16", tc, h.c, h.ldc, func(p *pool, tc gemmCase, c []float32) {
				hgemm(p, npu.BF16, tc.transA, tc.transB, tc.m, tc.n, tc.k, tc.alpha, h.ha, h.lda, h.hb, h.ldb, tc.beta, c, h.ldc)
			})
		}
	})
}
