package nputest

import (
	"math"

	"bloom/npu"
)

// testVocabEmbedding checks EmbeddingForwardRange and EmbeddingBackwardRange:
// ids are drawn from the whole vocabulary, so some fall in the shard
// [lo, lo+V) and some do not.
func testVocabEmbedding(e *env) {
	for _, c := range [][4]int{{17, 23, 7, 8}, {9, 5, 3, 0}, {6, 4, 1, 9}, {12, 10, 5, 30}} { // N, Vg, C, lo; lo ≥ Vg: no id is local
		e.run(name("N=%d,Vg=%d,C=%d,lo=%d", c[0], c[1], c[2], c[3]), func(e *env) { checkVocabEmbedding(e, c[0], c[1], c[2], c[3]) })
	}
}

func checkVocabEmbedding(e *env, N, Vg, C, lo int) {
	V := max(1, min(Vg-lo, Vg/2)) // the shard's rows
	ids := make([]int32, N)
	for i := range ids {
		ids[i] = int32(e.rng.IntN(Vg))
	}
	ids[0] = int32(min(lo, Vg-1))
	if N > 2 {
		ids[N-1] = ids[0] // at least one repeat
	}
	local := func(id int32) bool { return int(id) >= lo && int(id) < lo+V }
	table := e.normal(V*C, 0, 1)
	// Forward copies rows or writes zeros: bit for bit, and every value of
	// out is written.
	want := make([]float32, N*C)
	for i, id := range ids {
		if local(id) {
			copy(want[i*C:(i+1)*C], table[(int(id)-lo)*C:])
		}
	}
	out := e.buf(e.normal(N*C, 0, 1))
	e.dev.EmbeddingForwardRange(out, e.buf(table), ids, lo, C)
	e.same("out", e.get(out), want)

	// Backward adds the dout rows of local ids into their table rows: cnt+1
	// terms in some order, γ(cnt+1) doubled, as for EmbeddingBackward; rows
	// no local id names stay as they were, bit for bit.
	dout := e.normal(N*C, 0, 1)
	dt0 := e.normal(V*C, 0, 1)
	wantD, mag, bound := f64(dt0), make([]float64, V*C), make([]float64, V*C)
	count := make([]int, V)
	for i, id := range ids {
		if !local(id) {
			continue
		}
		r := int(id) - lo
		count[r]++
		for c := range C {
			wantD[r*C+c] += float64(dout[i*C+c])
			mag[r*C+c] += math.Abs(float64(dout[i*C+c]))
		}
	}
	for k := range wantD {
		if n := count[k/C]; n > 0 {
			bound[k] = 2 * float64(n+1) * u * (mag[k] + math.Abs(float64(dt0[k])))
		}
	}
	backward := func() []float32 {
		dt := e.buf(dt0)
		e.dev.EmbeddingBackwardRange(dt, e.buf(dout), ids, lo, C)
		return e.get(dt)
	}
	got := backward()
	e.within("dtable", got, wantD, bound)
	e.same("dtable of a second run", backward(), got)
}

// testVocabCrossEntropy checks the vocab-parallel cross-entropy: the logits
// of the whole vocabulary are cut into shards (of unequal widths), each
// shard's parts are computed by the kernels, combined on the host as the
// all-reductions would combine them (max, then sums in shard order), and the
// loss and every shard's dlogits are compared with the float64 reference of
// the unsplit cross-entropy (ceRef, checked against finite differences in
// testCrossEntropy).
func testVocabCrossEntropy(e *env) {
	for _, c := range []struct {
		N      int
		widths []int
		offset float64
	}{{6, []int{13}, 0}, {5, []int{5, 4, 4}, 0}, {3, []int{2500, 2500}, 0}, {4, []int{3, 6}, 500}, {2, []int{1, 1}, 0}} {
		e.run(name("N=%d,widths=%v,offset=%g", c.N, c.widths, c.offset), func(e *env) { checkVocabCrossEntropy(e, c.N, c.widths, c.offset) })
	}
}

func checkVocabCrossEntropy(e *env, N int, widths []int, offset float64) {
	const scale = float32(0.37)
	Vg := 0
	for _, w := range widths {
		Vg += w
	}
	logits := e.normal(N*Vg, offset, 3)
	targets := make([]int32, N)
	for i := range targets {
		targets[i] = int32(e.rng.IntN(Vg))
	}
	targets[min(1, N-1)] = npu.IgnoreIndex
	ref := newCERef(f64(logits), targets, N, Vg, float64(scale))

	// shard returns shard k's logits (N, widths[k]) and its first column.
	shard := func(k int) ([]float32, int) {
		lo := 0
		for _, w := range widths[:k] {
			lo += w
		}
		V := widths[k]
		x := make([]float32, N*V)
		for i := range N {
			copy(x[i*V:(i+1)*V], logits[i*Vg+lo:i*Vg+lo+V])
		}
		return x, lo
	}

	// The row maximum is exact: the max over shards of the shards' maxima.
	gmax := make([]float32, N)
	for i := range gmax {
		gmax[i] = float32(math.Inf(-1))
	}
	for k, V := range widths {
		x, _ := shard(k)
		mb := e.buf(e.normal(N, 0, 1))
		e.dev.CrossEntropyMax(mb, e.buf(x), N, V)
		m := e.get(mb)
		for i := range N {
			want := float32(math.Inf(-1))
			for _, v := range x[i*V : (i+1)*V] {
				want = max(want, v)
			}
			if m[i] != want {
				e.t.Errorf("shard %d: rowMax[%d] = %v, want %v", k, i, m[i], want)
			}
			gmax[i] = max(gmax[i], m[i])
		}
	}

	// Each shard's exp sum: V terms e^(x−m), each with relative error u·|x−m|
	// from rounding the argument plus ~4u from exp32 (2 ulp) and its
	// float32 result; summed in float64; one rounding to float32. Doubled.
	// The target logit is copied: exact.
	sum32 := make([]float32, N) // combined as a float32 all-reduce would: in shard order
	tsum := make([]float64, N)
	for k, V := range widths {
		x, lo := shard(k)
		sb, tb := e.buf(e.normal(N, 0, 1)), e.buf(e.normal(N, 0, 1))
		e.dev.CrossEntropySums(sb, tb, e.buf(x), e.buf(gmax), targets, lo, N, V)
		s, tg := e.get(sb), e.get(tb)
		want, bound, wantT := make([]float64, N), make([]float64, N), make([]float32, N)
		for i := range N {
			for _, v := range x[i*V : (i+1)*V] {
				d := float64(gmax[i]) - float64(v)
				ex := math.Exp(-d)
				want[i] += ex
				bound[i] += ex * (u*d + 4*u)
			}
			bound[i] = 2*(bound[i]+u*want[i]) + tiny
			if t := int(targets[i]) - lo; targets[i] != npu.IgnoreIndex && t >= 0 && t < V {
				wantT[i] = x[i*V+t]
			}
			sum32[i] += s[i]
			tsum[i] += float64(tg[i])
		}
		e.within(name("shard %d sumExp", k), s, want, bound)
		e.same(name("shard %d target", k), tg, wantT)
	}

	// The combined loss, log Σ + max − target, has ceRef's error plus one
	// float32 rounding per shard sum, well inside ceRef's bound.
	loss := make([]float32, N)
	for i := range N {
		if targets[i] != npu.IgnoreIndex {
			loss[i] = float32(math.Log(float64(sum32[i])) + float64(gmax[i]) - tsum[i])
		}
	}
	e.within("combined loss", loss, ref.loss, ref.lossBound)

	// Each shard's dlogits against the reference's columns, with and
	// without aliasing; a second run gives the same bits.
	for k, V := range widths {
		x, lo := shard(k)
		want, bound := make([]float64, N*V), make([]float64, N*V)
		for i := range N {
			for j := range V {
				want[i*V+j] = ref.dlogits[i*Vg+lo+j]
				bound[i*V+j] = ref.dlogitsBound[i*Vg+lo+j]
			}
		}
		backward := func(alias bool) []float32 {
			xb := e.buf(x)
			db := xb
			if !alias {
				db = e.buf(e.normal(N*V, 0, 1)) // every value must be overwritten
			}
			e.dev.CrossEntropyBackwardRange(db, xb, e.buf(gmax), e.buf(sum32), targets, lo, N, V, scale)
			return e.get(db)
		}
		for _, alias := range []bool{false, true} {
			what := name("shard %d dlogits", k)
			if alias {
				what += " aliasing logits"
			}
			got := backward(alias)
			e.within(what, got, want, bound)
			e.same(what+" of a second run", backward(alias), got)
		}
	}
}
