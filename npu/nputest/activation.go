package nputest

import (
	"math"
)

// BLOOM's GELU constants, as npu.Activation states them.
const (
	geluA = 0.79788456
	geluB = 0.044715
	geluC = 0.1070322243 // 3·geluA·geluB, as in HF's bloom_gelu_back
)

func refGelu(x float64) float64 {
	return x * 0.5 * (1 + math.Tanh(geluA*x*(1+geluB*x*x)))
}

// refGeluGrad is HF's bloom_gelu_back formula.
func refGeluGrad(x float64) float64 {
	t := math.Tanh(geluA * x * (1 + geluB*x*x))
	return 0.5*x*((1-t*t)*(geluA+geluC*x*x)) + 0.5*(1+t)
}

// testGelu checks GeluForward and GeluBackward on a spread of inputs,
// including 0, tiny values and the saturated tails.
func testGelu(e *env) {
	for _, n := range []int{1, 1000} {
		e.run(name("n=%d", n), func(e *env) { checkGelu(e, n) })
	}
}

func checkGelu(e *env, n int) {
	x := e.uniform(n, -6, 6)
	copy(x, []float32{0, 1e-3, -1e-3, 10, -10, 20, -20, 3, -3}[:min(n, 9)])
	// tanh in float32 is within a few ulps (libm, Sleef, vendor kernels) and
	// BLOOM's expression adds about five roundings of values no larger than
	// |x| or |y|: 16·u·(|x| + |y|) covers both.
	want, bound := make([]float64, n), make([]float64, n)
	for i, v := range f64(x) {
		want[i] = refGelu(v)
		bound[i] = 16*u*(math.Abs(v)+math.Abs(want[i])) + tiny
	}
	forward := func() []float32 {
		out := e.zeros(n)
		e.dev.GeluForward(out, e.buf(x), n)
		return e.get(out)
	}
	got := forward()
	e.within("out", got, want, bound)
	e.same("out of a second run", forward(), got)

	dout := e.normal(n, 0, 1)
	g := make([]float64, n)
	for i, v := range f64(x) {
		g[i] = refGeluGrad(v) * float64(dout[i])
	}
	e.checkFD("din", f64(x), g, func(v []float64) float64 {
		s := 0.0
		for i, xv := range v {
			s += refGelu(xv) * float64(dout[i])
		}
		return s
	})
	// gelu' = 0.5·x·(1−t²)·(A + C·x²) + 0.5·(1+t): an error of a few u in t
	// moves it by about u·(1 + |x|·(A + C·x²)); 16 of those, plus the two
	// roundings of the product and the accumulation.
	din0 := e.normal(n, 0, 1)
	wantD, boundD := make([]float64, n), make([]float64, n)
	for i, v := range f64(x) {
		wantD[i] = float64(din0[i]) + g[i]
		boundD[i] = 16*u*(1+math.Abs(v)*(geluA+geluC*v*v))*math.Abs(float64(dout[i])) +
			2*u*(math.Abs(float64(din0[i]))+math.Abs(g[i])) + tiny
	}
	backward := func() []float32 {
		din := e.buf(din0)
		e.dev.GeluBackward(din, e.buf(x), e.buf(dout), n)
		return e.get(din)
	}
	gotD := backward()
	e.within("din", gotD, wantD, boundD)
	e.same("din of a second run", backward(), gotD)
}

// testElementwise checks Add (with every aliasing the contract allows),
// Axpy and Scale. Each is one or two correctly rounded operations per value;
// values past n must stay untouched.
func testElementwise(e *env) {
	for _, n := range []int{1, 1000, 100003} {
		e.run(name("n=%d", n), func(e *env) { checkElementwise(e, n) })
	}
}

func checkElementwise(e *env, n int) {
	const tail = 3 // buffers are longer than n by tail values
	a, b := e.normal(n+tail, 0, 1), e.normal(n+tail, 0, 1)
	sum := func(x, y []float32) (want, bound []float64) {
		want = f64(x)
		for i := range n {
			want[i] += float64(y[i])
		}
		bound = rel(want, u, 0)
		for i := n; i < len(bound); i++ {
			bound[i] = 0
		}
		return want, bound
	}
	w, bd := sum(a, b)
	out := e.buf(e.normal(n+tail, 0, 1))
	o0 := e.get(out)
	e.dev.Add(out, e.buf(a), e.buf(b), n)
	got := e.get(out)
	copy(w[n:], f64(o0[n:]))
	e.within("Add", got, w, bd)

	ab, bb := e.buf(a), e.buf(b)
	e.dev.Add(ab, ab, bb, n) // out aliases a
	w, bd = sum(a, b)
	e.within("Add(a, a, b)", e.get(ab), w, bd)
	ab, bb = e.buf(a), e.buf(b)
	e.dev.Add(bb, ab, bb, n) // out aliases b
	w, bd = sum(b, a)
	e.within("Add(b, a, b)", e.get(bb), w, bd)
	ab = e.buf(a)
	e.dev.Add(ab, ab, ab, n) // everything aliases: 2a is exact
	w, bd = sum(a, a)
	e.within("Add(a, a, a)", e.get(ab), w, bd)

	// Axpy: y + alpha·x, fused or not: error ≤ 2u·(|y| + |alpha·x|).
	const alpha = float32(-0.37)
	want, bound := f64(b), make([]float64, n+tail)
	for i := range n {
		want[i] += float64(alpha) * float64(a[i])
		bound[i] = 2 * u * (math.Abs(float64(b[i])) + math.Abs(float64(alpha)*float64(a[i])))
	}
	axpy := func() []float32 {
		y := e.buf(b)
		e.dev.Axpy(y, alpha, e.buf(a), n)
		return e.get(y)
	}
	gotY := axpy()
	e.within("Axpy", gotY, want, bound)
	e.same("Axpy of a second run", axpy(), gotY)

	// Scale: one correctly rounded product.
	const s = float32(1.7)
	want = f64(a)
	for i := range n {
		want[i] *= float64(s)
	}
	bound = rel(want, u, 0)
	for i := n; i < n+tail; i++ {
		bound[i] = 0
	}
	xb := e.buf(a)
	e.dev.Scale(xb, s, n)
	e.within("Scale", e.get(xb), want, bound)
}

// testSumSquares checks SumSquares, whose float64 accumulation of exact
// squares errs by at most n·2⁻⁵³·Σx².
func testSumSquares(e *env) {
	for _, n := range []int{0, 1, 1000, 300007} {
		x := e.normal(n+2, 0, 3)
		want := 0.0
		for _, v := range f64(x[:n]) {
			want += v * v
		}
		b := e.buf(x)
		got := e.dev.SumSquares(b, n)
		if tol := 2 * float64(n+1) * 0x1p-53 * want; !(math.Abs(got-want) <= tol) {
			e.t.Errorf("SumSquares of %d values = %.17g, want %.17g ± %.3g", n, got, want, tol)
		}
		if again := e.dev.SumSquares(b, n); math.Float64bits(again) != math.Float64bits(got) {
			e.t.Errorf("SumSquares of %d values = %.17g, then %.17g", n, got, again)
		}
	}
}
