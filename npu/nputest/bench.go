package nputest

import (
	"math/rand/v2"
	"testing"

	"bloom/npu"
)

// Benchmarks times every kernel at the sizes of one BLOOM-560m layer on a
// micro-batch of 1024 tokens (4×256; hidden 1024, 16 heads of 64), the
// output layer on 64 rows of the 250880-token vocabulary, and an optimizer
// step over 4M parameters, and the forward's GEMM and the conversions in
// fp16 and bf16. GEMM and attention also report GFLOP/s.
func Benchmarks(b *testing.B, dev npu.Device) {
	const B, T, C, NH, HD = 4, 256, 1024, 16, 64
	const rows = B * T
	rng := rand.New(rand.NewPCG(1, 2))
	in := func(n int, sd float64) npu.Buf {
		x := make([]float32, n)
		for i := range x {
			x[i] = float32(sd * rng.NormFloat64())
		}
		buf := dev.Alloc(n)
		dev.Write(buf, x)
		return buf
	}
	bench := func(name string, flops float64, f func()) {
		b.Run(name, func(b *testing.B) {
			f() // warm up scratch memory
			b.ResetTimer()
			for b.Loop() {
				f()
			}
			if flops > 0 {
				b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			}
		})
	}

	x, w, y := in(rows*C, 1), in(C*4*C, 0.02), in(rows*4*C, 1)
	for _, tr := range []struct {
		name          string
		tA, tB        bool
		m, n, k       int
		a, b          npu.Buf
		lda, ldb, ldc int
	}{ // a linear layer's forward, input gradient and weight gradient
		{"Gemm/NN/1024x4096x1024", false, false, rows, 4 * C, C, x, w, C, 4 * C, 4 * C},
		{"Gemm/NT/1024x1024x4096", false, true, rows, C, 4 * C, y, w, 4 * C, 4 * C, C},
		{"Gemm/TN/1024x4096x1024", true, false, C, 4 * C, rows, x, y, C, 4 * C, 4 * C},
	} {
		c := dev.Alloc(tr.m * tr.ldc)
		bench(tr.name, 2*float64(tr.m*tr.n*tr.k), func() {
			dev.Gemm(tr.tA, tr.tB, tr.m, tr.n, tr.k, 1, tr.a, tr.lda, tr.b, tr.ldb, 0, c, tr.ldc)
		})
	}

	// The forward's GEMM in each half type, and the rounding and widening
	// of its weight matrix.
	for _, t := range halfTypes {
		xh, wh := dev.AllocHalf(t, rows*C), dev.AllocHalf(t, C*4*C)
		dev.ToHalf(xh, x, rows*C)
		c := dev.Alloc(rows * 4 * C)
		bench("ToHalf/"+t.String()+"/4M", 0, func() { dev.ToHalf(wh, w, C*4*C) })
		bench("FromHalf/"+t.String()+"/4M", 0, func() { dev.FromHalf(c, wh, C*4*C) })
		bench("GemmHalf/"+t.String()+"/NN/1024x4096x1024", 2*float64(rows*4*C*C), func() {
			dev.GemmHalf(false, false, rows, 4*C, C, 1, xh, C, wh, 4*C, 0, c, 4*C)
		})
	}

	out, mean, rstd := dev.Alloc(rows*C), dev.Alloc(rows), dev.Alloc(rows)
	lw, lb, dw, db := in(C, 1), in(C, 0.1), dev.Alloc(C), dev.Alloc(C)
	bench("LayerNorm/Forward", 0, func() { dev.LayerNormForward(out, mean, rstd, x, lw, lb, rows, C, 1e-5) })
	bench("LayerNorm/Backward", 0, func() { dev.LayerNormBackward(out, dw, db, x, x, lw, mean, rstd, rows, C) })
	g := dev.Alloc(rows * 4 * C)
	bench("Gelu/Forward", 0, func() { dev.GeluForward(g, y, rows*4*C) })
	bench("Gelu/Backward", 0, func() { dev.GeluBackward(g, y, y, rows*4*C) })
	bench("BiasBackward", 0, func() { dev.BiasBackward(db, x, rows, C) })
	bench("Softmax/Forward", 0, func() { dev.SoftmaxForward(out, x, rows, C) })

	s := npu.AttentionShape{B: B, Tq: T, Tk: T, NH: NH, HD: HD, Cap: T, Slopes: make([]float32, NH)}
	for h := range s.Slopes {
		s.Slopes[h] = 1 / float32(int(1)<<(h/2+1))
	}
	q, k, v := in(rows*C, 1), in(rows*C, 1), in(rows*C, 1)
	probs := dev.Alloc(B * NH * T * T)
	attnFlops := 2 * 2 * float64(B*NH*T*T/2*HD) // QKᵀ and PV over the causal half
	bench("Attention/Forward", attnFlops, func() { dev.AttentionForward(out, probs, q, k, v, s) })
	dq, dk, dv := dev.Alloc(rows*C), dev.Alloc(rows*C), dev.Alloc(rows*C)
	bench("Attention/Backward", 2*attnFlops, func() { dev.AttentionBackward(dq, dk, dv, x, q, k, v, probs, s) })
	qkv := in(rows*3*C, 1)
	bench("SplitQKV", 0, func() { dev.SplitQKV(q, k, v, qkv, B, T, NH, HD, T, 0) })

	const V, N = 250880, 64
	logits, losses := in(N*V, 2), dev.Alloc(N)
	targets := make([]int32, N)
	for i := range targets {
		targets[i] = int32(rng.IntN(V))
	}
	dl := dev.Alloc(N * V)
	bench("CrossEntropy", 0, func() { dev.CrossEntropy(losses, dl, logits, targets, N, V, 1.0/N) })

	ids := make([]int32, rows)
	for i := range ids {
		ids[i] = int32(rng.IntN(8192))
	}
	table, dtable := in(8192*C, 0.02), dev.Alloc(8192*C)
	bench("Embedding/Forward", 0, func() { dev.EmbeddingForward(out, table, ids, C) })
	bench("Embedding/Backward", 0, func() { dev.EmbeddingBackward(dtable, x, ids, C) })

	const P = 1 << 22
	p, grad, m, vv := in(P, 0.02), in(P, 0.001), dev.Alloc(P), dev.Alloc(P)
	bench("AdamW", 0, func() {
		dev.AdamWUpdate(p, grad, m, vv, P, npu.AdamW{LR: 6e-4, Beta1: 0.9, Beta2: 0.95, Eps: 1e-8, WeightDecay: 0.1, Step: 10})
	})
	bench("SumSquares", 0, func() { dev.SumSquares(grad, P) })
}
