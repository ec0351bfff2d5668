package nputest

import (
	"math"
)

// gemmCase is one Gemm call; pad widens each leading dimension past its
// minimum.
type gemmCase struct {
	transA, transB bool
	m, n, k, pad   int
	alpha, beta    float32
}

// gemmPadC is what C's padding columns hold; a Gemm must leave it alone.
const gemmPadC = 777

// testGemm checks C = alpha·op(A)·op(B) + beta·C for all four transposes,
// shapes from 1×1×1 to ones that cross any blocking, padded leading
// dimensions, beta = 0 over a C full of NaN, and k = 0.
func testGemm(e *env) {
	scalars := [][2]float32{{1, 0}, {0.5, 1}, {-1.25, -0.75}}
	shapes := [][3]int{{1, 1, 1}, {3, 5, 7}, {17, 13, 9}, {67, 131, 259}, {4, 5, 0}}
	for _, tA := range []bool{false, true} {
		for _, tB := range []bool{false, true} {
			for si, sh := range shapes {
				for ci, ab := range scalars {
					c := gemmCase{tA, tB, sh[0], sh[1], sh[2], (si + ci) % 3, ab[0], ab[1]}
					e.run(name("tA=%v,tB=%v,%dx%dx%d,alpha=%g,beta=%g,pad=%d", tA, tB, c.m, c.n, c.k, c.alpha, c.beta, c.pad),
						func(e *env) { checkGemm(e, c) })
				}
			}
		}
	}
}

// stored returns the rows and columns of X as stored, for op(X) rows×cols.
func stored(trans bool, rows, cols int) (int, int) {
	if trans {
		return cols, rows
	}
	return rows, cols
}

// matrix returns a random rows×cols matrix with leading dimension ld whose
// padding holds pad.
func (e *env) matrix(rows, cols, ld int, pad float32) []float32 {
	x := make([]float32, max(rows*ld, 0))
	for i := range x {
		if i%ld < cols {
			x[i] = float32(e.rng.NormFloat64())
		} else {
			x[i] = pad
		}
	}
	return x
}

func checkGemm(e *env, c gemmCase) {
	ar, ac := stored(c.transA, c.m, c.k)
	br, bc := stored(c.transB, c.k, c.n)
	lda, ldb, ldc := max(ac, 1)+c.pad, max(bc, 1)+c.pad, max(c.n, 1)+c.pad
	nan := float32(math.NaN())
	a := e.matrix(ar, ac, lda, nan) // reading A's or B's padding poisons C
	b := e.matrix(br, bc, ldb, nan)
	c0 := e.matrix(c.m, c.n, ldc, gemmPadC)
	if c.beta == 0 {
		for i := range c0 {
			if i%ldc < c.n {
				c0[i] = nan // beta = 0 must not read C
			}
		}
	}
	want, bound := refGemmTerm(c, a, lda, b, ldb, c0, ldc, e.opt.gemmTerm())
	run := func() []float32 {
		cb := e.buf(c0)
		e.dev.Gemm(c.transA, c.transB, c.m, c.n, c.k, c.alpha, e.buf(a), lda, e.buf(b), ldb, c.beta, cb, ldc)
		return e.get(cb)
	}
	got := run()
	e.within("C", got, want, bound)
	e.same("C of a second run", run(), got)
}

// refGemm returns C = alpha·op(A)·op(B) + beta·C in float64 over C's whole
// layout (padding kept) and each element's tolerance: the classic bound
// γ(k+2)·(|alpha|·|op(A)|·|op(B)| + |beta|·|C|) for a dot product of k terms
// summed in any order, then scaled and added (Higham, Accuracy and Stability
// of Numerical Algorithms, §3.5), doubled for slack.
func refGemm(c gemmCase, a []float32, lda int, b []float32, ldb int, c0 []float32, ldc int) (want, bound []float64) {
	return refGemmTerm(c, a, lda, b, ldb, c0, ldc, 0)
}

// refGemmTerm is refGemm for a GEMM whose product terms err by term
// (relative) before they are summed: Options.gemmTerm of a GEMM that rounds
// its operands. γ(k+2) grows to γ(k+2) + term.
func refGemmTerm(c gemmCase, a []float32, lda int, b []float32, ldb int, c0 []float32, ldc int, term float64) (want, bound []float64) {
	at := func(i, l int) float64 {
		if c.transA {
			return float64(a[l*lda+i])
		}
		return float64(a[i*lda+l])
	}
	bt := func(l, j int) float64 {
		if c.transB {
			return float64(b[j*ldb+l])
		}
		return float64(b[l*ldb+j])
	}
	want, bound = f64(c0), make([]float64, len(c0))
	gamma := 2 * (float64(c.k+2)*u + term)
	for i := range c.m {
		for j := range c.n {
			s, mag := 0.0, 0.0
			for l := range c.k {
				p := at(i, l) * bt(l, j)
				s += p
				mag += math.Abs(p)
			}
			w := float64(c.alpha) * s
			mag *= math.Abs(float64(c.alpha))
			if c.beta != 0 {
				w += float64(c.beta) * float64(c0[i*ldc+j])
				mag += math.Abs(float64(c.beta) * float64(c0[i*ldc+j]))
			}
			want[i*ldc+j], bound[i*ldc+j] = w, gamma*mag+tiny
		}
	}
	return want, bound
}

// testBias checks AddBias and BiasBackward.
func testBias(e *env) {
	for _, sh := range [][2]int{{1, 1}, {1, 7}, {5, 1}, {33, 17}} {
		rows, cols := sh[0], sh[1]
		e.run(name("%dx%d", rows, cols), func(e *env) { checkBias(e, rows, cols) })
	}
}

func checkBias(e *env, rows, cols int) {
	out, bias := e.normal(rows*cols, 0, 1), e.normal(cols, 0, 1)
	// AddBias: one correctly rounded addition per value, error ≤ u·|result|.
	want := make([]float64, len(out))
	for r := range rows {
		for j := range cols {
			want[r*cols+j] = float64(out[r*cols+j]) + float64(bias[j])
		}
	}
	ob := e.buf(out)
	e.dev.AddBias(ob, e.buf(bias), rows, cols)
	got := e.get(ob)
	e.within("AddBias out", got, want, rel(want, u, 0))
	ob2 := e.buf(out)
	e.dev.AddBias(ob2, e.buf(bias), rows, cols)
	e.same("AddBias out of a second run", e.get(ob2), got)

	// BiasBackward is the gradient of Σ (out + bias)⊙w with respect to bias.
	w := e.normal(rows*cols, 0, 1)
	f := func(b []float64) float64 {
		s := 0.0
		for r := range rows {
			for j := range cols {
				s += (float64(out[r*cols+j]) + b[j]) * float64(w[r*cols+j])
			}
		}
		return s
	}
	g := make([]float64, cols)
	mag := make([]float64, cols)
	for r := range rows {
		for j := range cols {
			g[j] += float64(w[r*cols+j])
			mag[j] += math.Abs(float64(w[r*cols+j]))
		}
	}
	e.checkFD("bias gradient", f64(bias), g, f)

	// The device adds into dbias0: rows+1 terms summed in any order, error
	// ≤ (rows+1)·u·Σ|terms|, doubled for slack.
	db0 := e.normal(cols, 0, 1)
	wantDB, boundDB := make([]float64, cols), make([]float64, cols)
	for j := range cols {
		wantDB[j] = float64(db0[j]) + g[j]
		boundDB[j] = 2 * float64(rows+1) * u * (math.Abs(float64(db0[j])) + mag[j])
	}
	run := func() []float32 {
		db := e.buf(db0)
		e.dev.BiasBackward(db, e.buf(w), rows, cols)
		return e.get(db)
	}
	gotDB := run()
	e.within("dbias", gotDB, wantDB, boundDB)
	e.same("dbias of a second run", run(), gotDB)
}
