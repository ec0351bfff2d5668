package cpu

import (
	"fmt"
	"testing"

	"bloom/internal/half"
	"bloom/npu"
)

// gemmBenchShape is a GEMM of the BLOOM training step; trans lists the
// transpose pairs its linear layers use: "NT" forward out = in·Wᵀ, "NN"
// backward dIn = dOut·W, "TN" backward dW = dOutᵀ·in.
type gemmBenchShape struct {
	m, n, k int
	trans   []string
}

var gemmBenchShapes = []gemmBenchShape{
	{2048, 1024, 1024, []string{"NT", "NN", "TN"}},
	{2048, 4096, 1024, []string{"NT", "NN", "TN"}},
	{2048, 1024, 4096, []string{"NT", "NN", "TN"}},
	{1024, 16384, 1024, []string{"NT", "NN", "TN"}},
	{64, 64, 64, []string{"NN", "NT", "TN", "TT"}},
	{16, 320, 64, []string{"NN", "NT", "TN", "TT"}},
}

// BenchmarkSgemm reports GFLOP/s (2·m·n·k per call) per shape, transpose
// pair and thread count, e.g.
//
//	go test ./npu/cpu/ -run '^$' -bench 'Sgemm/' -benchtime 3x
func BenchmarkSgemm(b *testing.B) {
	for _, s := range gemmBenchShapes {
		for _, tr := range s.trans {
			for _, threads := range []int{1, 2} {
				name := fmt.Sprintf("%dx%dx%d/%s/threads=%d", s.m, s.n, s.k, tr, threads)
				b.Run(name, func(b *testing.B) {
					benchSgemm(b, newPool(threads), tr[0] == 'T', tr[1] == 'T', s.m, s.n, s.k)
				})
			}
		}
	}
}

// BenchmarkSgemmPortable measures the portable Go micro-kernel that non-amd64
// targets use.
func BenchmarkSgemmPortable(b *testing.B) {
	useGemm(b, gemmGo)
	for _, tr := range []string{"NT", "NN"} {
		b.Run(fmt.Sprintf("512x512x512/%s/threads=1", tr), func(b *testing.B) {
			benchSgemm(b, newPool(1), tr[0] == 'T', tr[1] == 'T', 512, 512, 512)
		})
	}
}

func benchSgemm(b *testing.B, p *pool, transA, transB bool, m, n, k int) {
	a := make([]float32, m*k)
	bm := make([]float32, k*n)
	c := make([]float32, m*n)
	for i := range a {
		a[i] = float32(i%7) - 3
	}
	for i := range bm {
		bm[i] = float32(i%5) - 2
	}
	lda, ldb := k, n
	if transA {
		lda = m
	}
	if transB {
		ldb = k
	}
	sgemm(p, transA, transB, m, n, k, 1, a, lda, bm, ldb, 0, c, n)
	b.ResetTimer()
	for b.Loop() {
		sgemm(p, transA, transB, m, n, k, 1, a, lda, bm, ldb, 0, c, n)
	}
	b.ReportMetric(2*float64(m)*float64(n)*float64(k)*float64(b.N)/float64(b.Elapsed().Nanoseconds()), "GFLOP/s")
}

// BenchmarkSgemmKernel measures each micro-kernel alone on L1-resident
// panels: the ceiling for the blocked GEMM.
func BenchmarkSgemmKernel(b *testing.B) {
	for _, im := range gemmImpls {
		b.Run(im.name, func(b *testing.B) {
			kc, mr, nr := im.kc, im.mr, im.nr
			ap := make([]float32, kc*mr)
			bp := make([]float32, kc*nr)
			c := make([]float32, mr*nr)
			for b.Loop() {
				im.kern(1, kc, ap, 1, mr, 0, bp, nr, c, nr, 1, 1)
			}
			b.ReportMetric(2*float64(kc*mr*nr)*float64(b.N)/float64(b.Elapsed().Nanoseconds()), "GFLOP/s")
		})
	}
}

// BenchmarkGemmHalf is BenchmarkSgemm for GemmHalf's path (half A and B
// widened as they are packed) on the large shapes, e.g.
//
//	go test ./npu/cpu/ -run '^$' -bench 'GemmHalf/bf16' -benchtime 3x
func BenchmarkGemmHalf(b *testing.B) {
	for _, dt := range []npu.DType{npu.BF16, npu.F16} {
		for _, s := range gemmBenchShapes[:4] {
			for _, tr := range s.trans {
				for _, threads := range []int{1, 2} {
					name := fmt.Sprintf("%v/%dx%dx%d/%s/threads=%d", dt, s.m, s.n, s.k, tr, threads)
					b.Run(name, func(b *testing.B) {
						benchGemmHalf(b, newPool(threads), dt, tr[0] == 'T', tr[1] == 'T', s.m, s.n, s.k)
					})
				}
			}
		}
	}
}

func benchGemmHalf(b *testing.B, p *pool, dt npu.DType, transA, transB bool, m, n, k int) {
	round := half.F32ToF16
	if dt == npu.BF16 {
		round = half.F32ToBF16
	}
	a := make([]uint16, m*k)
	bm := make([]uint16, k*n)
	c := make([]float32, m*n)
	for i := range a {
		a[i] = round(float32(i%7) - 3)
	}
	for i := range bm {
		bm[i] = round(float32(i%5) - 2)
	}
	lda, ldb := k, n
	if transA {
		lda = m
	}
	if transB {
		ldb = k
	}
	call := func() { hgemm(p, dt, transA, transB, m, n, k, 1, a, lda, bm, ldb, 0, c, n) }
	call()
	b.ResetTimer()
	for b.Loop() {
		call()
	}
	b.ReportMetric(2*float64(m)*float64(n)*float64(k)*float64(b.N)/float64(b.Elapsed().Nanoseconds()), "GFLOP/s")
}
