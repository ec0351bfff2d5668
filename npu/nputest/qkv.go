package nputest

// testQKV checks SplitQKV and MergeQKVBackward: a prefill into an empty
// cache, a decode step at t0 > 0, and a step that fills the cache exactly.
func testQKV(e *env) {
	for _, c := range [][6]int{ // B, T, NH, HD, Cap, t0
		{2, 3, 3, 4, 5, 0},
		{2, 1, 2, 3, 6, 4},
		{1, 2, 5, 2, 4, 2},
		{1, 1, 1, 1, 1, 0},
	} {
		e.run(name("B=%d,T=%d,NH=%d,HD=%d,Cap=%d,t0=%d", c[0], c[1], c[2], c[3], c[4], c[5]),
			func(e *env) { checkQKV(e, c[0], c[1], c[2], c[3], c[4], c[5]) })
	}
}

// qkvIndex maps element [b,t,h,s,d] of fused qkv (B,T,NH,3,HD) to its place
// in q (B,NH,T,HD) for s = 0, or in k or v (B,NH,Cap,HD) at time t0+t.
func qkvIndex(B, T, NH, HD, Cap, t0 int, each func(fused, s, split int)) {
	for b := range B {
		for t := range T {
			for h := range NH {
				for s := range 3 {
					for d := range HD {
						fused := (((b*T+t)*NH+h)*3+s)*HD + d
						split := ((b*NH+h)*T+t)*HD + d
						if s > 0 {
							split = ((b*NH+h)*Cap+t0+t)*HD + d
						}
						each(fused, s, split)
					}
				}
			}
		}
	}
}

func checkQKV(e *env, B, T, NH, HD, Cap, t0 int) {
	nf, nq, nk := B*T*NH*3*HD, B*NH*T*HD, B*NH*Cap*HD
	qkv := e.normal(nf, 0, 1)
	q0, k0, v0 := e.normal(nq, 0, 1), e.normal(nk, 0, 1), e.normal(nk, 0, 1)
	// Split copies: bit for bit, and cache rows outside t0..t0+T−1 keep
	// their values.
	wq, wk, wv := clone(q0), clone(k0), clone(v0)
	qkvIndex(B, T, NH, HD, Cap, t0, func(f, s, x int) {
		[][]float32{wq, wk, wv}[s][x] = qkv[f]
	})
	qb, kb, vb := e.buf(q0), e.buf(k0), e.buf(v0)
	e.dev.SplitQKV(qb, kb, vb, e.buf(qkv), B, T, NH, HD, Cap, t0)
	e.same("q", e.get(qb), wq)
	e.same("k", e.get(kb), wk)
	e.same("v", e.get(vb), wv)

	// Merge is the gradient of Σ q⊙dq + k⊙dk + v⊙dv (k and v over the
	// written rows) with respect to qkv; one correctly rounded addition per
	// value into dqkv.
	dq, dk, dv := e.normal(nq, 0, 1), e.normal(nk, 0, 1), e.normal(nk, 0, 1)
	g := make([]float64, nf)
	qkvIndex(B, T, NH, HD, Cap, t0, func(f, s, x int) {
		g[f] = float64([][]float32{dq, dk, dv}[s][x])
	})
	e.checkFD("dqkv", f64(qkv), g, func(x []float64) float64 {
		sum := 0.0
		qkvIndex(B, T, NH, HD, Cap, t0, func(f, _, _ int) { sum += x[f] * g[f] })
		return sum
	})
	d0 := e.normal(nf, 0, 1)
	want := f64(d0)
	for i := range want {
		want[i] += g[i]
	}
	merge := func() []float32 {
		db := e.buf(d0)
		e.dev.MergeQKVBackward(db, e.buf(dq), e.buf(dk), e.buf(dv), B, T, NH, HD, Cap, t0)
		return e.get(db)
	}
	got := merge()
	e.within("dqkv", got, want, rel(want, u, 0))
	e.same("dqkv of a second run", merge(), got)
}
