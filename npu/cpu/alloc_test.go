package cpu_test

import (
	"runtime"
	"testing"

	"bloom/npu"
	"bloom/npu/cpu"
)

// TestSteadyStateAllocs checks that after a first call has sized the scratch
// memory, a kernel allocates only its fork-join bookkeeping (a closure and a
// goroutine per extra thread), never memory that grows with the data.
func TestSteadyStateAllocs(t *testing.T) {
	for _, threads := range []int{1, 4} {
		dev := cpu.New(threads)
		for _, k := range kernels(dev) {
			k.f() // sizes the scratch memory
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			const runs = 20
			for range runs {
				k.f()
			}
			runtime.ReadMemStats(&after)
			perCall := (after.TotalAlloc - before.TotalAlloc) / runs
			limit := uint64(256 + 512*threads + 512*k.gemms) // fork-joins, and sgemm's own bookkeeping
			if perCall > limit {
				t.Errorf("%d threads: %s allocates %d bytes a call, want at most %d", threads, k.name, perCall, limit)
			}
		}
	}
}

type kernel struct {
	name  string
	f     func()
	gemms int // calls to the internal GEMM
}

// kernels returns one call of every kernel at sizes of a few hundred KiB.
func kernels(dev *cpu.Device) []kernel {
	const rows, cols, n = 128, 512, 1 << 16
	buf := func(n int) npu.Buf {
		b := dev.Alloc(n)
		dev.Fill(b, 0.5)
		return b
	}
	x, y, z := buf(rows*cols), buf(rows*cols), buf(rows*cols)
	w, bias, mean, rstd := buf(cols), buf(cols), buf(rows), buf(rows)
	ids := make([]int32, rows)
	for i := range ids {
		ids[i] = int32(i % 7)
	}
	const B, NH, T, HD = 2, 4, 64, 16
	s := npu.AttentionShape{B: B, Tq: T, Tk: T, NH: NH, HD: HD, Cap: T, Slopes: []float32{0.5, 0.25, 0.125, 0.0625}}
	q, k, v, o, dq, dk, dv := buf(B*NH*T*HD), buf(B*NH*T*HD), buf(B*NH*T*HD), buf(B*NH*T*HD), buf(B*NH*T*HD), buf(B*NH*T*HD), buf(B*NH*T*HD)
	probs, qkv := buf(B*NH*T*T), buf(3*B*NH*T*HD)
	h := npu.AdamW{LR: 1e-3, Beta1: 0.9, Beta2: 0.95, Eps: 1e-8, WeightDecay: 0.1, Step: 3}
	return []kernel{
		{"Gemm", func() { dev.Gemm(false, true, 64, 64, 64, 1, x, 64, y, 64, 0, z, 64) }, 1},
		{"Fill", func() { dev.Fill(z, 1) }, 0},
		{"AddBias", func() { dev.AddBias(z, bias, rows, cols) }, 0},
		{"BiasBackward", func() { dev.BiasBackward(bias, x, rows, cols) }, 0},
		{"LayerNormForward", func() { dev.LayerNormForward(z, mean, rstd, x, w, bias, rows, cols, 1e-5) }, 0},
		{"LayerNormBackward", func() { dev.LayerNormBackward(z, w, bias, y, x, w, mean, rstd, rows, cols) }, 0},
		{"GeluForward", func() { dev.GeluForward(z, x, n) }, 0},
		{"GeluBackward", func() { dev.GeluBackward(z, x, y, n) }, 0},
		{"Add", func() { dev.Add(z, x, y, n) }, 0},
		{"Axpy", func() { dev.Axpy(z, 0.5, x, n) }, 0},
		{"Scale", func() { dev.Scale(z, 0.5, n) }, 0},
		{"SumSquares", func() { dev.SumSquares(x, rows*cols) }, 0},
		{"SoftmaxForward", func() { dev.SoftmaxForward(z, x, rows, cols) }, 0},
		{"SoftmaxBackward", func() { dev.SoftmaxBackward(z, x, y, rows, cols) }, 0},
		{"AttentionForward", func() { dev.AttentionForward(o, probs, q, k, v, s) }, 2 * B * NH},
		{"AttentionBackward", func() { dev.AttentionBackward(dq, dk, dv, o, q, k, v, probs, s) }, 4 * B * NH},
		{"SplitQKV", func() { dev.SplitQKV(q, k, v, qkv, B, T, NH, HD, T, 0) }, 0},
		{"MergeQKVBackward", func() { dev.MergeQKVBackward(qkv, q, k, v, B, T, NH, HD, T, 0) }, 0},
		{"EmbeddingForward", func() { dev.EmbeddingForward(z, x, ids, cols) }, 0},
		{"EmbeddingBackward", func() { dev.EmbeddingBackward(x, y, ids, cols) }, 0},
		{"CrossEntropy", func() { dev.CrossEntropy(mean, z, x, ids, rows, cols, 1.0/rows) }, 0},
		{"AdamWUpdate", func() { dev.AdamWUpdate(x, y, z, w, cols, h) }, 0},
	}
}
