package nputest

import (
	"math"
)

// refSoftmax returns the softmax of each row of x (rows,cols) in float64.
func refSoftmax(x []float64, rows, cols int) []float64 {
	y := make([]float64, len(x))
	for r := range rows {
		xr, yr := x[r*cols:(r+1)*cols], y[r*cols:(r+1)*cols]
		m := math.Inf(-1)
		for _, v := range xr {
			m = max(m, v)
		}
		s := 0.0
		for i, v := range xr {
			yr[i] = math.Exp(v - m)
			s += yr[i]
		}
		for i := range yr {
			yr[i] /= s
		}
	}
	return y
}

// testSoftmax checks SoftmaxForward and SoftmaxBackward, including one row,
// one column, and rows whose values would overflow exp without the maximum
// subtracted first.
func testSoftmax(e *env) {
	for _, c := range []struct {
		rows, cols int
		offset     float64
	}{{1, 1, 0}, {1, 9, 0}, {5, 1, 0}, {6, 37, 0}, {3, 20, 1000}, {3, 20, -1000}} {
		e.run(name("%dx%d,offset=%g", c.rows, c.cols, c.offset), func(e *env) { checkSoftmax(e, c.rows, c.cols, c.offset) })
	}
}

func checkSoftmax(e *env, rows, cols int, offset float64) {
	x := e.normal(rows*cols, offset, 3)
	want := refSoftmax(f64(x), rows, cols)
	// out_j = exp(x_j − max)/Σ: the float32 subtraction errs by u·|x_j − max|
	// (relative, after exp), exp by a few u, the sum of cols terms by
	// cols·u; doubled for slack.
	bound := make([]float64, len(x))
	for r := range rows {
		m := math.Inf(-1)
		for _, v := range x[r*cols : (r+1)*cols] {
			m = max(m, float64(v))
		}
		for j := range cols {
			k := r*cols + j
			bound[k] = 2*u*float64(cols+8)*want[k] + 2*u*(m-float64(x[k]))*want[k] + tiny
		}
	}
	forward := func() []float32 {
		out := e.zeros(rows * cols)
		e.dev.SoftmaxForward(out, e.buf(x), rows, cols)
		return e.get(out)
	}
	got := forward()
	e.within("out", got, want, bound)
	e.same("out of a second run", forward(), got)

	dout := e.normal(rows*cols, 0, 1)
	e.checkFD("din", f64(x), softmaxBackward(want, f64(dout), rows, cols), func(v []float64) float64 {
		return dotW(refSoftmax(v, rows, cols), f64(dout))
	})
	// The device's backward starts from its own out; the reference takes
	// that same out, so only the backward's arithmetic is measured: a dot
	// product of cols terms and two roundings, doubled.
	din0 := e.normal(rows*cols, 0, 1)
	y := f64(got)
	g := softmaxBackward(y, f64(dout), rows, cols)
	wantD, boundD := make([]float64, len(x)), make([]float64, len(x))
	for r := range rows {
		mag := 0.0
		for j := range cols {
			mag += math.Abs(y[r*cols+j] * float64(dout[r*cols+j]))
		}
		for j := range cols {
			k := r*cols + j
			wantD[k] = float64(din0[k]) + g[k]
			boundD[k] = 2*float64(cols+8)*u*y[k]*(math.Abs(float64(dout[k]))+mag) + 2*u*(math.Abs(float64(din0[k]))+math.Abs(g[k])) + tiny
		}
	}
	backward := func() []float32 {
		din := e.buf(din0)
		e.dev.SoftmaxBackward(din, e.buf(got), e.buf(dout), rows, cols)
		return e.get(din)
	}
	gotD := backward()
	e.within("din", gotD, wantD, boundD)
	e.same("din of a second run", backward(), gotD)
}

// softmaxBackward returns y ⊙ (dy − Σ dy⊙y), row by row.
func softmaxBackward(y, dy []float64, rows, cols int) []float64 {
	g := make([]float64, len(y))
	for r := range rows {
		s := 0.0
		for j := range cols {
			s += y[r*cols+j] * dy[r*cols+j]
		}
		for j := range cols {
			g[r*cols+j] = y[r*cols+j] * (dy[r*cols+j] - s)
		}
	}
	return g
}
