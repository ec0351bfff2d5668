package nputest

import (
	"math"

	"bloom/npu"
)

// testEmbedding checks EmbeddingForward and EmbeddingBackward with repeated
// ids, one column and one id.
func testEmbedding(e *env) {
	for _, c := range [][3]int{{15, 11, 7}, {1, 3, 5}, {9, 4, 1}} { // N, V, C
		e.run(name("N=%d,V=%d,C=%d", c[0], c[1], c[2]), func(e *env) { checkEmbedding(e, c[0], c[1], c[2]) })
	}
}

func checkEmbedding(e *env, N, V, C int) {
	ids := make([]int32, N)
	for i := range ids {
		ids[i] = int32(e.rng.IntN(V))
	}
	if N > 2 {
		ids[N-1] = ids[0] // at least one repeat
	}
	table := e.normal(V*C, 0, 1)
	// Forward copies rows: bit for bit.
	want := make([]float32, N*C)
	for i, id := range ids {
		copy(want[i*C:(i+1)*C], table[int(id)*C:])
	}
	out := e.buf(e.normal(N*C, 0, 1))
	e.dev.EmbeddingForward(out, e.buf(table), ids, C)
	e.same("out", e.get(out), want)

	// Backward is the gradient of Σ out⊙dout with respect to the table: each
	// row sums the dout rows of its ids into dtable0, cnt+1 terms in any
	// order (γ(cnt+1), doubled); rows no id names stay as they were.
	dout := e.normal(N*C, 0, 1)
	g, mag := make([]float64, V*C), make([]float64, V*C)
	for i, id := range ids {
		for c := range C {
			g[int(id)*C+c] += float64(dout[i*C+c])
			mag[int(id)*C+c] += math.Abs(float64(dout[i*C+c]))
		}
	}
	e.checkFD("dtable", f64(table), g, func(t []float64) float64 {
		s := 0.0
		for i, id := range ids {
			for c := range C {
				s += t[int(id)*C+c] * float64(dout[i*C+c])
			}
		}
		return s
	})
	count := make([]int, V)
	for _, id := range ids {
		count[id]++
	}
	dt0 := e.normal(V*C, 0, 1)
	wantD, bound := f64(dt0), make([]float64, V*C)
	for k := range wantD {
		wantD[k] += g[k]
		if n := count[k/C]; n > 0 {
			bound[k] = 2 * float64(n+1) * u * (mag[k] + math.Abs(float64(dt0[k])))
		}
	}
	backward := func() []float32 {
		dt := e.buf(dt0)
		e.dev.EmbeddingBackward(dt, e.buf(dout), ids, C)
		return e.get(dt)
	}
	got := backward()
	e.within("dtable", got, wantD, bound)
	e.same("dtable of a second run", backward(), got)
}

// testCrossEntropy checks CrossEntropy with and without dlogits, with
// dlogits aliasing logits, ignored targets, one class, a large vocabulary,
// and rows whose exp would overflow without the maximum subtracted.
func testCrossEntropy(e *env) {
	for _, c := range []struct {
		N, V   int
		offset float64
	}{{6, 13, 0}, {3, 1, 0}, {2, 5000, 0}, {4, 9, 500}} {
		e.run(name("N=%d,V=%d,offset=%g", c.N, c.V, c.offset), func(e *env) { checkCrossEntropy(e, c.N, c.V, c.offset) })
	}
}

// ceRef is float64 cross-entropy with each value's tolerance: the
// log-sum-exp of V terms errs by (V+8)·u plus u·|x_j − max| from rounding
// exp's argument, the loss adds u·(|max| + |log Σ| + |x_t|); dlogits_j =
// scale·(p_j − onehot) errs by p_j's relative error plus a rounding of the
// difference. Doubled for slack.
type ceRef struct {
	loss, dlogits           []float64
	lossBound, dlogitsBound []float64
}

func newCERef(x []float64, targets []int32, N, V int, scale float64) *ceRef {
	r := &ceRef{loss: make([]float64, N), dlogits: make([]float64, N*V),
		lossBound: make([]float64, N), dlogitsBound: make([]float64, N*V)}
	for i := range N {
		t := int(targets[i])
		if t == npu.IgnoreIndex {
			continue // loss and dlogits exactly 0
		}
		xr := x[i*V : (i+1)*V]
		m := math.Inf(-1)
		for _, v := range xr {
			m = max(m, v)
		}
		s, spread := 0.0, 0.0
		for _, v := range xr {
			s += math.Exp(v - m)
			spread = max(spread, m-v)
		}
		lse := m + math.Log(s)
		r.loss[i] = lse - xr[t]
		eps := (float64(V+8) + spread) * u
		r.lossBound[i] = 2 * (eps + u*(math.Abs(m)+math.Log(s)+math.Abs(xr[t])))
		for j, v := range xr {
			p := math.Exp(v - lse)
			oh := 0.0
			if j == t {
				oh = 1
			}
			r.dlogits[i*V+j] = scale * (p - oh)
			r.dlogitsBound[i*V+j] = 2*math.Abs(scale)*(p*(eps+u*(m-v))+u*math.Abs(p-oh)) + tiny
		}
	}
	return r
}

func checkCrossEntropy(e *env, N, V int, offset float64) {
	const scale = float32(0.37)
	logits := e.normal(N*V, offset, 3)
	targets := make([]int32, N)
	for i := range targets {
		targets[i] = int32(e.rng.IntN(V))
	}
	targets[min(1, N-1)] = npu.IgnoreIndex
	ref := newCERef(f64(logits), targets, N, V, float64(scale))

	e.checkFD("dlogits", f64(logits), ref.dlogits, func(x []float64) float64 {
		l := newCERef(x, targets, N, V, float64(scale)).loss
		s := 0.0
		for _, v := range l {
			s += float64(scale) * v
		}
		return s
	})

	lossOnly := func() []float32 {
		lb := e.buf(e.normal(N, 0, 1))
		e.dev.CrossEntropy(lb, nil, e.buf(logits), targets, N, V, scale)
		return e.get(lb)
	}
	got := lossOnly()
	e.within("losses without dlogits", got, ref.loss, ref.lossBound)
	e.same("losses of a second run", lossOnly(), got)

	withGrad := func(alias bool) (loss, dlogits []float32) {
		lb, xb := e.buf(e.normal(N, 0, 1)), e.buf(logits)
		db := xb
		if !alias {
			db = e.buf(e.normal(N*V, 0, 1)) // every value must be overwritten
		}
		e.dev.CrossEntropy(lb, db, xb, targets, N, V, scale)
		return e.get(lb), e.get(db)
	}
	for _, alias := range []bool{false, true} {
		l, d := withGrad(alias)
		what := "dlogits"
		if alias {
			what = "dlogits aliasing logits"
		}
		e.within("losses with "+what, l, ref.loss, ref.lossBound)
		e.within(what, d, ref.dlogits, ref.dlogitsBound)
		l2, d2 := withGrad(alias)
		e.same("losses of a second run with "+what, l2, l)
		e.same(what+" of a second run", d2, d)
	}
}
