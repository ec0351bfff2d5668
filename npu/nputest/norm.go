package nputest

import (
	"math"
)

// testLayerNorm checks LayerNormForward and LayerNormBackward, including one
// row, one column (variance 0) and rows far from zero mean.
func testLayerNorm(e *env) {
	for _, c := range []struct {
		rows, cols int
		mean       float64
	}{{1, 1, 0}, {1, 8, 0}, {4, 1, 0}, {7, 33, 0}, {16, 130, 0}, {5, 64, 30}} {
		e.run(name("%dx%d,mean=%g", c.rows, c.cols, c.mean), func(e *env) { checkLayerNorm(e, c.rows, c.cols, c.mean) })
	}
}

const lnEps = 1e-5

// lnRef is the float64 layer norm of x (rows,cols).
type lnRef struct {
	rows, cols       int
	x, w, b          []float64
	mean, rstd, norm []float64
	out              []float64
	meanAbs          []float64 // (rows) mean |x|: the scale of the error in the mean
}

func newLNRef(x, w, b []float64, rows, cols int) *lnRef {
	r := &lnRef{rows: rows, cols: cols, x: x, w: w, b: b,
		mean: make([]float64, rows), rstd: make([]float64, rows), meanAbs: make([]float64, rows),
		norm: make([]float64, rows*cols), out: make([]float64, rows*cols)}
	n := float64(cols)
	for i := range rows {
		xr := x[i*cols : (i+1)*cols]
		m, a := 0.0, 0.0
		for _, v := range xr {
			m += v
			a += math.Abs(v)
		}
		m /= n
		v := 0.0
		for _, xv := range xr {
			v += (xv - m) * (xv - m)
		}
		s := 1 / math.Sqrt(v/n+lnEps)
		r.mean[i], r.rstd[i], r.meanAbs[i] = m, s, a/n
		for j, xv := range xr {
			r.norm[i*cols+j] = (xv - m) * s
			r.out[i*cols+j] = r.norm[i*cols+j]*w[j] + b[j]
		}
	}
	return r
}

// backward returns the gradients of Σ out⊙dout with respect to x, w and b.
func (r *lnRef) backward(dout []float64) (dx, dw, db []float64) {
	rows, cols := r.rows, r.cols
	dx, dw, db = make([]float64, rows*cols), make([]float64, cols), make([]float64, cols)
	for i := range rows {
		g, gn := 0.0, 0.0
		for j := range cols {
			k := i*cols + j
			dn := r.w[j] * dout[k]
			g += dn
			gn += dn * r.norm[k]
			dw[j] += dout[k] * r.norm[k]
			db[j] += dout[k]
		}
		g /= float64(cols)
		gn /= float64(cols)
		for j := range cols {
			k := i*cols + j
			dx[k] = r.rstd[i] * (r.w[j]*dout[k] - g - r.norm[k]*gn)
		}
	}
	return dx, dw, db
}

func checkLayerNorm(e *env, rows, cols int, mean float64) {
	x, w, b := e.normal(rows*cols, mean, 1), e.normal(cols, 1, 0.3), e.normal(cols, 0, 0.2)
	ref := newLNRef(f64(x), f64(w), f64(b), rows, cols)

	type fwd struct{ out, mean, rstd []float32 }
	forward := func() fwd {
		out, mu, rs := e.zeros(rows*cols), e.zeros(rows), e.zeros(rows)
		e.dev.LayerNormForward(out, mu, rs, e.buf(x), e.buf(w), e.buf(b), rows, cols, lnEps)
		return fwd{e.get(out), e.get(mu), e.get(rs)}
	}
	got := forward()
	// Float32 sums of cols terms err by at most cols·u times the sum of the
	// magnitudes (γ(cols)); the mean errs by (cols+2)·u·mean|x|, the
	// variance and so rstd by (cols+8)·u relatively, and out adds the mean's
	// error times rstd·|w| to a few roundings of its own. Doubled for slack.
	K := 2 * float64(cols+8) * u
	bMean, bRstd, bOut := make([]float64, rows), make([]float64, rows), make([]float64, rows*cols)
	for i := range rows {
		bMean[i] = K * ref.meanAbs[i]
		bRstd[i] = K * ref.rstd[i]
		for j := range cols {
			k := i*cols + j
			bOut[k] = 2*K*(math.Abs(ref.w[j])*(math.Abs(ref.norm[k])+ref.rstd[i]*ref.meanAbs[i])+math.Abs(ref.b[j])) + tiny
		}
	}
	e.within("mean", got.mean, ref.mean, bMean)
	e.within("rstd", got.rstd, ref.rstd, bRstd)
	e.within("out", got.out, ref.out, bOut)
	again := forward()
	e.same("out of a second run", again.out, got.out)
	e.same("mean of a second run", again.mean, got.mean)
	e.same("rstd of a second run", again.rstd, got.rstd)

	// Backward: the gradient of Σ out⊙dout, checked by finite differences
	// and then against the device, which adds into random gradients.
	dout := e.normal(rows*cols, 0, 1)
	dx, dw, db := ref.backward(f64(dout))
	obj := func(x, w, b []float64) float64 { return dotW(newLNRef(x, w, b, rows, cols).out, f64(dout)) }
	e.checkFD("dx", ref.x, dx, func(v []float64) float64 { return obj(v, ref.w, ref.b) })
	e.checkFD("dweight", ref.w, dw, func(v []float64) float64 { return obj(ref.x, v, ref.b) })
	e.checkFD("dbias", ref.b, db, func(v []float64) float64 { return obj(ref.x, ref.w, v) })

	dx0, dw0, db0 := e.normal(rows*cols, 0, 1), e.normal(cols, 0, 1), e.normal(cols, 0, 1)
	backward := func() (gx, gw, gb []float32) {
		bx, bw, bb := e.buf(dx0), e.buf(dw0), e.buf(db0)
		e.dev.LayerNormBackward(bx, bw, bb, e.buf(dout), e.buf(x), e.buf(w), e.buf(got.mean), e.buf(got.rstd), rows, cols)
		return e.get(bx), e.get(bw), e.get(bb)
	}
	gx, gw, gb := backward()
	wantX, wantW, wantB := make([]float64, rows*cols), make([]float64, cols), make([]float64, cols)
	bX, bW, bB := make([]float64, rows*cols), make([]float64, cols), make([]float64, cols)
	magW := make([]float64, cols)
	// din = rstd·(dnorm − mean(dnorm) − norm·mean(dnorm·norm)): row sums of
	// cols terms (K relative to the sum of magnitudes), on top of the
	// forward's errors in mean and rstd, which move norm by about
	// K·(|norm| + rstd·mean|x|). dweight and dbias sum rows terms.
	for i := range rows {
		ga, gna := 0.0, 0.0 // mean |dnorm| and mean |dnorm|·(|norm| + rstd·mean|x|)
		for j := range cols {
			k := i*cols + j
			dn := math.Abs(ref.w[j] * float64(dout[k]))
			ga += dn
			gna += dn * (math.Abs(ref.norm[k]) + ref.rstd[i]*ref.meanAbs[i])
		}
		ga /= float64(cols)
		gna /= float64(cols)
		for j := range cols {
			k := i*cols + j
			wantX[k] = float64(dx0[k]) + dx[k]
			bX[k] = 2*K*ref.rstd[i]*(math.Abs(ref.w[j]*float64(dout[k]))+ga+(math.Abs(ref.norm[k])+ref.rstd[i]*ref.meanAbs[i])*gna) +
				2*u*math.Abs(float64(dx0[k])) + tiny
			wantW[j] += float64(dout[k]) * ref.norm[k]
			magW[j] += math.Abs(float64(dout[k]) * ref.norm[k])
			bW[j] += math.Abs(float64(dout[k])) * K * (math.Abs(ref.norm[k]) + ref.rstd[i]*ref.meanAbs[i]) // from norm's error
			wantB[j] += float64(dout[k])
			bB[j] += math.Abs(float64(dout[k]))
		}
	}
	S := 2 * float64(rows+2) * u // a sum of rows+1 terms, doubled
	for j := range cols {
		wantW[j] += float64(dw0[j])
		wantB[j] += float64(db0[j])
		bW[j] += S*(magW[j]+math.Abs(float64(dw0[j]))) + tiny
		bB[j] = S*(bB[j]+math.Abs(float64(db0[j]))) + tiny
	}
	e.within("din", gx, wantX, bX)
	e.within("dweight", gw, wantW, bW)
	e.within("dbias", gb, wantB, bB)
	ax, aw, ab := backward()
	e.same("din of a second run", ax, gx)
	e.same("dweight of a second run", aw, gw)
	e.same("dbias of a second run", ab, gb)
}
