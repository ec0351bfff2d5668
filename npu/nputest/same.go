package nputest

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"bloom/npu"
)

// Same checks that every device in devs computes the results of devs[0],
// bit for bit, for every kernel, on inputs large enough to be split across
// threads. Give it one backend at several thread counts to check that its
// partitioning never changes a result.
func Same(t *testing.T, devs ...npu.Device) {
	t.Helper()
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			want := sc.run(newLab(devs[0], sc.name))
			for i, dev := range devs[1:] {
				who := fmt.Sprintf("device %d (%s, %d threads)", i+1, dev.Name(), dev.Threads())
				compareResults(t, who, sc.run(newLab(dev, sc.name)), want)
			}
		})
	}
}

// testDeterminism runs every scenario twice on one device.
func testDeterminism(e *env) {
	for _, sc := range scenarios {
		e.run(sc.name, func(e *env) {
			compareResults(e.t, "second run", sc.run(e.lab(sc.name)), sc.run(e.lab(sc.name)))
		})
	}
}

// result is one named output of a scenario.
type result struct {
	name string
	f32  []float32
	f64  float64
	bits []uint16 // a half buffer's contents
}

func compareResults(t *testing.T, who string, got, want []result) {
	t.Helper()
	for i, w := range want {
		g := got[i]
		if math.Float64bits(g.f64) != math.Float64bits(w.f64) {
			t.Errorf("%s: %s = %.17g, want %.17g bit for bit", who, w.name, g.f64, w.f64)
		}
		for j := range w.f32 {
			if math.Float32bits(g.f32[j]) != math.Float32bits(w.f32[j]) {
				t.Errorf("%s: %s[%d] = %v, want %v bit for bit", who, w.name, j, g.f32[j], w.f32[j])
				break
			}
		}
		for j := range w.bits {
			if g.bits[j] != w.bits[j] {
				t.Errorf("%s: %s[%d] = %#04x, want %#04x", who, w.name, j, g.bits[j], w.bits[j])
				break
			}
		}
	}
}

// lab is a scenario's device and random source, seeded by the scenario's
// name so that every device sees the same inputs.
type lab struct {
	dev   npu.Device
	rng   *rand.Rand
	out   []result
	types []npu.DType // the half types to test
}

func newLab(dev npu.Device, name string) *lab {
	var seed uint64 = 1469598103934665603
	for _, c := range []byte(name) {
		seed = (seed ^ uint64(c)) * 1099511628211
	}
	return &lab{dev: dev, rng: rand.New(rand.NewPCG(seed, 2)), types: halfTypes}
}

// in returns a buffer of n values drawn from N(0, sd²).
func (l *lab) in(n int, sd float64) npu.Buf {
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(sd * l.rng.NormFloat64())
	}
	b := l.dev.Alloc(n)
	l.dev.Write(b, x)
	return b
}

// keep records b's contents as a result.
func (l *lab) keep(name string, b npu.Buf) {
	x := make([]float32, b.Len())
	l.dev.Read(x, b)
	l.out = append(l.out, result{name: name, f32: x})
}

// keepHalf records a half buffer's contents as a result.
func (l *lab) keepHalf(name string, b npu.HalfBuf) {
	x := make([]uint16, b.Len())
	l.dev.ReadHalf(x, b)
	l.out = append(l.out, result{name: name, bits: x})
}

// scenarios are the determinism checks: every kernel, sized to go parallel.
var scenarios = []struct {
	name string
	run  func(*lab) []result
}{
	{"Gemm", func(l *lab) []result {
		const m, n, k = 150, 130, 170
		for _, tr := range [][2]bool{{false, false}, {false, true}, {true, false}, {true, true}} {
			lda, ldb := k, n
			if tr[0] {
				lda = m
			}
			if tr[1] {
				ldb = k
			}
			c := l.in(m*n, 1)
			l.dev.Gemm(tr[0], tr[1], m, n, k, 0.7, l.in(m*k, 1), lda, l.in(k*n, 1), ldb, 0.3, c, n)
			l.keep("C", c)
		}
		return l.out
	}},
	{"Half", func(l *lab) []result {
		const m, n, k = 150, 130, 170
		for _, t := range l.types {
			const big = 200003 // conversions split across threads
			h, x := l.dev.AllocHalf(t, big), l.dev.Alloc(big)
			l.dev.ToHalf(h, l.in(big, 100), big)
			l.dev.FromHalf(x, h, big)
			l.keepHalf("ToHalf "+t.String(), h)
			l.keep("FromHalf "+t.String(), x)
			for _, tr := range [][2]bool{{false, false}, {false, true}, {true, false}, {true, true}} {
				lda, ldb := k, n
				if tr[0] {
					lda = m
				}
				if tr[1] {
					ldb = k
				}
				a, b := l.dev.AllocHalf(t, m*k), l.dev.AllocHalf(t, k*n)
				l.dev.ToHalf(a, l.in(m*k, 1), m*k)
				l.dev.ToHalf(b, l.in(k*n, 1), k*n)
				c := l.in(m*n, 1)
				l.dev.GemmHalf(tr[0], tr[1], m, n, k, 0.7, a, lda, b, ldb, 0.3, c, n)
				l.keep("GemmHalf C "+t.String(), c)
			}
		}
		return l.out
	}},
	{"Bias", func(l *lab) []result {
		const rows, cols = 600, 300
		out, db := l.in(rows*cols, 1), l.in(cols, 1)
		l.dev.AddBias(out, l.in(cols, 1), rows, cols)
		l.dev.BiasBackward(db, l.in(rows*cols, 1), rows, cols)
		l.keep("out", out)
		l.keep("dbias", db)
		return l.out
	}},
	{"LayerNorm", func(l *lab) []result {
		const rows, cols = 200, 300
		out, mean, rstd := l.dev.Alloc(rows*cols), l.dev.Alloc(rows), l.dev.Alloc(rows)
		x, w := l.in(rows*cols, 2), l.in(cols, 1)
		l.dev.LayerNormForward(out, mean, rstd, x, w, l.in(cols, 1), rows, cols, 1e-5)
		dx, dw, db := l.in(rows*cols, 1), l.in(cols, 1), l.in(cols, 1)
		l.dev.LayerNormBackward(dx, dw, db, l.in(rows*cols, 1), x, w, mean, rstd, rows, cols)
		for _, r := range []struct {
			n string
			b npu.Buf
		}{{"out", out}, {"mean", mean}, {"rstd", rstd}, {"din", dx}, {"dweight", dw}, {"dbias", db}} {
			l.keep(r.n, r.b)
		}
		return l.out
	}},
	{"Gelu", func(l *lab) []result {
		const n = 200003
		x, out, din := l.in(n, 3), l.dev.Alloc(n), l.in(n, 1)
		l.dev.GeluForward(out, x, n)
		l.dev.GeluBackward(din, x, l.in(n, 1), n)
		l.keep("out", out)
		l.keep("din", din)
		return l.out
	}},
	{"Elementwise", func(l *lab) []result {
		const n = 100003
		a, b, out := l.in(n, 1), l.in(n, 1), l.dev.Alloc(n)
		l.dev.Add(out, a, b, n)
		l.dev.Axpy(a, -0.3, b, n)
		l.dev.Scale(b, 1.1, n)
		l.keep("Add", out)
		l.keep("Axpy", a)
		l.keep("Scale", b)
		l.out = append(l.out, result{name: "SumSquares", f64: l.dev.SumSquares(l.in(300007, 1), 300007)})
		return l.out
	}},
	{"Softmax", func(l *lab) []result {
		const rows, cols = 300, 301
		out, din := l.dev.Alloc(rows*cols), l.in(rows*cols, 1)
		l.dev.SoftmaxForward(out, l.in(rows*cols, 3), rows, cols)
		l.dev.SoftmaxBackward(din, out, l.in(rows*cols, 1), rows, cols)
		l.keep("out", out)
		l.keep("din", din)
		return l.out
	}},
	{"Attention", func(l *lab) []result {
		for _, tq := range []int{40, 1} {
			const B, NH, Tk, HD, Cap = 2, 5, 40, 16, 44
			mask := make([]int32, B*Tk)
			for i := range mask {
				if i >= 5 {
					mask[i] = 1
				}
			}
			s := attnCase{B: B, NH: NH, Tq: tq, Tk: Tk, HD: HD, Cap: Cap, mask: mask}.shape()
			q, k, v := l.in(B*NH*tq*HD, 1), l.in(B*NH*Cap*HD, 1), l.in(B*NH*Cap*HD, 1)
			out, probs := l.dev.Alloc(B*tq*NH*HD), l.dev.Alloc(B*NH*tq*Tk)
			l.dev.AttentionForward(out, probs, q, k, v, s)
			dq, dk, dv := l.in(q.Len(), 1), l.in(k.Len(), 1), l.in(v.Len(), 1)
			l.dev.AttentionBackward(dq, dk, dv, l.in(out.Len(), 1), q, k, v, probs, s)
			for _, r := range []struct {
				n string
				b npu.Buf
			}{{"out", out}, {"probs", probs}, {"dq", dq}, {"dk", dk}, {"dv", dv}} {
				l.keep(r.n, r.b)
			}
		}
		return l.out
	}},
	{"QKV", func(l *lab) []result {
		const B, T, NH, HD, Cap, t0 = 4, 64, 4, 16, 70, 3
		q, k, v := l.dev.Alloc(B*NH*T*HD), l.dev.Alloc(B*NH*Cap*HD), l.dev.Alloc(B*NH*Cap*HD)
		l.dev.SplitQKV(q, k, v, l.in(B*T*NH*3*HD, 1), B, T, NH, HD, Cap, t0)
		d := l.in(B*T*NH*3*HD, 1)
		l.dev.MergeQKVBackward(d, q, k, v, B, T, NH, HD, Cap, t0)
		l.keep("dqkv", d)
		return l.out
	}},
	{"Embedding", func(l *lab) []result {
		const N, V, C = 4096, 100, 64
		ids := make([]int32, N)
		for i := range ids {
			ids[i] = int32(l.rng.IntN(V))
		}
		out, dt := l.dev.Alloc(N*C), l.in(V*C, 1)
		l.dev.EmbeddingForward(out, l.in(V*C, 1), ids, C)
		l.dev.EmbeddingBackward(dt, l.in(N*C, 1), ids, C)
		l.keep("out", out)
		l.keep("dtable", dt)
		return l.out
	}},
	{"CrossEntropy", func(l *lab) []result {
		const N, V = 64, 3001
		targets := make([]int32, N)
		for i := range targets {
			targets[i] = int32(l.rng.IntN(V))
		}
		targets[3] = npu.IgnoreIndex
		x, loss, dx := l.in(N*V, 3), l.dev.Alloc(N), l.dev.Alloc(N*V)
		l.dev.CrossEntropy(loss, dx, x, targets, N, V, 1.0/N)
		l.keep("losses", loss)
		l.keep("dlogits", dx)
		l.dev.CrossEntropy(loss, x, x, targets, N, V, 1.0/N)
		l.keep("losses, aliased", loss)
		l.keep("dlogits, aliased", x)
		return l.out
	}},
	{"VocabParallel", func(l *lab) []result {
		const N, V, C, lo = 2048, 100, 64, 50 // ids in [0, 200): half hit the shard
		ids := make([]int32, N)
		for i := range ids {
			ids[i] = int32(l.rng.IntN(4 * lo))
		}
		out, dt := l.dev.Alloc(N*C), l.in(V*C, 1)
		l.dev.EmbeddingForwardRange(out, l.in(V*C, 1), ids, lo, C)
		l.dev.EmbeddingBackwardRange(dt, l.in(N*C, 1), ids, lo, C)
		l.keep("embedding out", out)
		l.keep("embedding dtable", dt)
		const rows, cols = 64, 3001
		targets := make([]int32, rows)
		for i := range targets {
			targets[i] = int32(l.rng.IntN(2 * cols))
		}
		targets[3] = npu.IgnoreIndex
		x, m, s, tg := l.in(rows*cols, 3), l.dev.Alloc(rows), l.dev.Alloc(rows), l.dev.Alloc(rows)
		l.dev.CrossEntropyMax(m, x, rows, cols)
		l.dev.CrossEntropySums(s, tg, x, m, targets, cols, rows, cols)
		dx := l.dev.Alloc(rows * cols)
		l.dev.CrossEntropyBackwardRange(dx, x, m, s, targets, cols, rows, cols, 1.0/rows)
		l.keep("rowMax", m)
		l.keep("sumExp", s)
		l.keep("target", tg)
		l.keep("dlogits", dx)
		return l.out
	}},
	{"AdamW", func(l *lab) []result {
		const n = 100003
		p, m, v := l.in(n, 1), l.in(n, 0.01), l.dev.Alloc(n)
		for step := 1; step <= 2; step++ {
			h := npu.AdamW{LR: 6e-4, Beta1: 0.9, Beta2: 0.95, Eps: 1e-8, WeightDecay: 0.1, Step: step}
			l.dev.AdamWUpdate(p, l.in(n, 0.01), m, v, n, h)
		}
		l.keep("param", p)
		l.keep("m", m)
		l.keep("v", v)
		return l.out
	}},
}
