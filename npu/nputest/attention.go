package nputest

import (
	"math"

	"bloom/npu"
)

// attnCase is one attention shape; mask is nil or (B,Tk).
type attnCase struct {
	name                   string
	B, NH, Tq, Tk, HD, Cap int
	mask                   []int32
}

func (c attnCase) shape() npu.AttentionShape {
	slopes := make([]float32, c.NH)
	for h := range slopes {
		slopes[h] = float32(math.Pow(0.5, float64(h+1)))
	}
	return npu.AttentionShape{B: c.B, Tq: c.Tq, Tk: c.Tk, NH: c.NH, HD: c.HD, Cap: c.Cap, Slopes: slopes, Mask: c.mask}
}

// testAttention checks AttentionForward and AttentionBackward: prefill,
// KV-cache decode (Tq = 1 < Tk) with Cap > Tk, left padding with queries
// that see no key, masks with gaps, a single position, and a head count that
// is not a power of two.
func testAttention(e *env) {
	for _, c := range []attnCase{
		{"prefill", 2, 3, 6, 6, 5, 6, nil},
		{"left padding", 2, 2, 5, 5, 4, 7, []int32{0, 0, 1, 1, 1, 1, 1, 1, 1, 1}},
		{"decode with padding", 2, 3, 1, 6, 4, 9, []int32{0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1}},
		{"chunk with gaps", 1, 2, 3, 7, 3, 8, []int32{1, 0, 1, 1, 0, 1, 1}},
		{"decode, 5 heads", 1, 5, 1, 9, 8, 12, nil},
		{"single position", 1, 1, 1, 1, 1, 1, nil},
		{"all padding", 1, 1, 3, 3, 2, 3, []int32{0, 0, 0}},
	} {
		e.run(c.name, func(e *env) { checkAttention(e, c.shape()) })
	}
}

// attnRef is float64 attention with the contract's indexing.
type attnRef struct {
	s                   npu.AttentionShape
	q, k, v             []float64
	out, probs          []float64
	outBound, probBound []float64
	eps                 float64 // the largest relative error allowed a probability
	term                float64 // Options.gemmTerm
}

func (r *attnRef) qi(b, h, i int) int { return ((b*r.s.NH+h)*r.s.Tq + i) * r.s.HD }
func (r *attnRef) ki(b, h, j int) int { return ((b*r.s.NH+h)*r.s.Cap + j) * r.s.HD }
func (r *attnRef) oi(b, h, i int) int { return ((b*r.s.Tq+i)*r.s.NH + h) * r.s.HD }
func (r *attnRef) pi(b, h, i int) int { return ((b*r.s.NH+h)*r.s.Tq + i) * r.s.Tk }

// sees reports whether query i of batch b sees key j.
func (r *attnRef) sees(b, i, j int) bool {
	return j <= r.s.Tk-r.s.Tq+i && (r.s.Mask == nil || r.s.Mask[b*r.s.Tk+j] != 0)
}

// seesAny reports whether query i of batch b sees at least one key.
func (r *attnRef) seesAny(b, i int) bool {
	for j := range r.s.Tk {
		if r.sees(b, i, j) {
			return true
		}
	}
	return false
}

// pos is key j's ALiBi position: the tokens before it.
func (r *attnRef) pos(b, j int) float64 {
	n := 0
	for l := range j {
		if r.s.Mask == nil || r.s.Mask[b*r.s.Tk+l] != 0 {
			n++
		}
	}
	return float64(n)
}

// newAttnRef computes the forward and, for each value, its tolerance: a
// score is a dot product of HD terms plus the ALiBi term, so it errs by
// (HD+4)·u·a_j with a_j = |q|·|k|/√HD + |slope·pos|; a probability moves by
// the errors of its score and of the row maximum, of exp (its argument
// rounded: u·|s_j − max|) and of a sum of Tk terms; out sums Tk products.
// Each is doubled for slack. term is Options.gemmTerm: the scores and out
// are GEMMs, whose every product errs by term more.
func newAttnRef(s npu.AttentionShape, q, k, v []float64, term float64) *attnRef {
	r := &attnRef{s: s, q: q, k: k, v: v, term: term,
		out: make([]float64, s.B*s.Tq*s.NH*s.HD), probs: make([]float64, s.B*s.NH*s.Tq*s.Tk)}
	r.outBound, r.probBound = make([]float64, len(r.out)), make([]float64, len(r.probs))
	c := 1 / math.Sqrt(float64(s.HD))
	sc, mag := make([]float64, s.Tk), make([]float64, s.Tk)
	for b := range s.B {
		for h := range s.NH {
			for i := range s.Tq {
				qv, p := q[r.qi(b, h, i):][:s.HD], r.probs[r.pi(b, h, i):][:s.Tk]
				m, dmax := math.Inf(-1), 0.0
				for j := range s.Tk {
					if !r.sees(b, i, j) {
						continue
					}
					kv := k[r.ki(b, h, j):][:s.HD]
					dot, abs := 0.0, 0.0
					for d := range s.HD {
						dot += qv[d] * kv[d]
						abs += math.Abs(qv[d] * kv[d])
					}
					al := float64(s.Slopes[h]) * r.pos(b, j)
					sc[j], mag[j] = c*dot+al, c*abs+math.Abs(al)
					m = max(m, sc[j])
					dmax = max(dmax, (float64(s.HD+4)*u+term)*mag[j])
				}
				if math.IsInf(m, -1) {
					// Sees no key: HF fills every score with the float
					// minimum, so the softmax is uniform over all Tk keys.
					o, ob := r.out[r.oi(b, h, i):][:s.HD], r.outBound[r.oi(b, h, i):][:s.HD]
					for j := range s.Tk {
						p[j] = 1 / float64(s.Tk)
						r.probBound[r.pi(b, h, i)+j] = 4*u*p[j] + tiny
						vv := r.v[r.ki(b, h, j):][:s.HD]
						for d := range s.HD {
							o[d] += p[j] * vv[d]
							ob[d] += 4*p[j]*math.Abs(vv[d])*(float64(s.Tk+2)*u+term) + tiny
						}
					}
					continue
				}
				sum := 0.0
				for j := range s.Tk {
					if r.sees(b, i, j) {
						p[j] = math.Exp(sc[j] - m)
						sum += p[j]
					}
				}
				o, ob := r.out[r.oi(b, h, i):][:s.HD], r.outBound[r.oi(b, h, i):][:s.HD]
				for j := range s.Tk {
					if !r.sees(b, i, j) {
						continue
					}
					p[j] /= sum
					eps := 2 * (2*dmax + u*(m-sc[j]) + float64(s.Tk+8)*u)
					r.eps = max(r.eps, eps)
					r.probBound[r.pi(b, h, i)+j] = eps*p[j] + tiny
					vv := r.v[r.ki(b, h, j):][:s.HD]
					for d := range s.HD {
						o[d] += p[j] * vv[d]
						ob[d] += 2*p[j]*math.Abs(vv[d])*(eps+float64(s.Tk+1)*u+term) + tiny
					}
				}
			}
		}
	}
	return r
}

// backward returns the gradients of Σ out⊙dout with respect to q, k and v,
// and the magnitudes of the terms each sums (the same sums over absolute
// values, with the softmax's subtraction turned into an addition).
func (r *attnRef) backward(dout []float64) (dq, dk, dv, mq, mk, mv []float64) {
	s := r.s
	dq, mq = make([]float64, len(r.q)), make([]float64, len(r.q))
	dk, mk = make([]float64, len(r.k)), make([]float64, len(r.k))
	dv, mv = make([]float64, len(r.v)), make([]float64, len(r.v))
	c := 1 / math.Sqrt(float64(s.HD))
	dp, adp := make([]float64, s.Tk), make([]float64, s.Tk)
	for b := range s.B {
		for h := range s.NH {
			for i := range s.Tq {
				p := r.probs[r.pi(b, h, i):][:s.Tk]
				g := dout[r.oi(b, h, i):][:s.HD]
				qo := r.qi(b, h, i)
				if !r.seesAny(b, i) {
					// Uniform probabilities that no score moves: only v
					// gets a gradient.
					for j := range s.Tk {
						ko := r.ki(b, h, j)
						for d := range s.HD {
							dv[ko+d] += p[j] * g[d]
							mv[ko+d] += p[j] * math.Abs(g[d])
						}
					}
					continue
				}
				sig, asig := 0.0, 0.0
				for j := range s.Tk {
					if !r.sees(b, i, j) {
						continue
					}
					ko := r.ki(b, h, j)
					dp[j], adp[j] = 0, 0
					for d := range s.HD {
						dp[j] += g[d] * r.v[ko+d]
						adp[j] += math.Abs(g[d] * r.v[ko+d])
						dv[ko+d] += p[j] * g[d]
						mv[ko+d] += p[j] * math.Abs(g[d])
					}
					sig += p[j] * dp[j]
					asig += p[j] * adp[j]
				}
				for j := range s.Tk {
					if !r.sees(b, i, j) {
						continue
					}
					ko := r.ki(b, h, j)
					ds, ads := c*p[j]*(dp[j]-sig), c*p[j]*(adp[j]+asig)
					for d := range s.HD {
						dq[qo+d] += ds * r.k[ko+d]
						mq[qo+d] += ads * math.Abs(r.k[ko+d])
						dk[ko+d] += ds * r.q[qo+d]
						mk[ko+d] += ads * math.Abs(r.q[qo+d])
					}
				}
			}
		}
	}
	return
}

// unused fills the rows of k or v (B,NH,Cap,HD) past Tk with NaN: the
// contract uses only the first Tk, and reading more poisons the result.
func unused(x []float32, s npu.AttentionShape) []float32 {
	x = clone(x)
	for bh := range s.B * s.NH {
		for j := s.Tk; j < s.Cap; j++ {
			for d := range s.HD {
				x[(bh*s.Cap+j)*s.HD+d] = float32(math.NaN())
			}
		}
	}
	return x
}

func checkAttention(e *env, s npu.AttentionShape) {
	nq, nk, no, np := s.B*s.NH*s.Tq*s.HD, s.B*s.NH*s.Cap*s.HD, s.B*s.Tq*s.NH*s.HD, s.B*s.NH*s.Tq*s.Tk
	q, k, v := e.normal(nq, 0, 1), e.normal(nk, 0, 1), e.normal(nk, 0, 1)
	ref := newAttnRef(s, f64(q), f64(k), f64(v), e.opt.gemmTerm())
	kd, vd := unused(k, s), unused(v, s)

	out0, probs0 := e.normal(no, 0, 1), e.normal(np, 0, 1) // every value must be overwritten
	forward := func() (out, probs []float32) {
		ob, pb := e.buf(out0), e.buf(probs0)
		e.dev.AttentionForward(ob, pb, e.buf(q), e.buf(kd), e.buf(vd), s)
		return e.get(ob), e.get(pb)
	}
	out, probs := forward()
	e.within("probs", probs, ref.probs, ref.probBound) // keys not seen: exactly 0
	e.within("out", out, ref.out, ref.outBound)        // queries that see nothing: exactly 0
	out2, probs2 := forward()
	e.same("out of a second run", out2, out)
	e.same("probs of a second run", probs2, probs)

	dout := e.normal(no, 0, 1)
	dq, dk, dv, mq, mk, mv := ref.backward(f64(dout))
	obj := func(q, k, v []float64) float64 { return dotW(newAttnRef(s, q, k, v, 0).out, f64(dout)) }
	e.checkFD("dq", ref.q, dq, func(x []float64) float64 { return obj(x, ref.k, ref.v) })
	e.checkFD("dk", ref.k, dk, func(x []float64) float64 { return obj(ref.q, x, ref.v) })
	e.checkFD("dv", ref.v, dv, func(x []float64) float64 { return obj(ref.q, ref.k, x) })

	// The device adds into random gradients, from its own probs. Sums of up
	// to HD + Tk + Tq terms each, plus the probabilities' own error: doubled,
	// relative to the magnitude of the terms. Values that receive nothing
	// (unused cache rows, masked keys, queries that see nothing) must not
	// change at all. Each gradient is two chained GEMMs (dP = dout·vᵀ, then
	// dS·k or dSᵀ·q), so each term errs by 2·Options.gemmTerm more.
	K := float64(s.HD+s.Tk+s.Tq+8)*u + 2*ref.eps + 2*ref.term
	expect := func(init []float32, g, mag []float64) (want, bound []float64) {
		want, bound = make([]float64, len(g)), make([]float64, len(g))
		for i := range g {
			want[i] = float64(init[i]) + g[i]
			if mag[i] > 0 {
				bound[i] = 2*K*mag[i] + 2*u*math.Abs(want[i]) + tiny
			}
		}
		return want, bound
	}
	dq0, dk0, dv0 := e.normal(nq, 0, 1), e.normal(nk, 0, 1), e.normal(nk, 0, 1)
	backward := func() (gq, gk, gv []float32) {
		bq, bk, bv := e.buf(dq0), e.buf(dk0), e.buf(dv0)
		e.dev.AttentionBackward(bq, bk, bv, e.buf(dout), e.buf(q), e.buf(kd), e.buf(vd), e.buf(probs), s)
		return e.get(bq), e.get(bk), e.get(bv)
	}
	gq, gk, gv := backward()
	w, b := expect(dq0, dq, mq)
	e.within("dq", gq, w, b)
	w, b = expect(dk0, dk, mk)
	e.within("dk", gk, w, b)
	w, b = expect(dv0, dv, mv)
	e.within("dv", gv, w, b)
	aq, ak, av := backward()
	e.same("dq of a second run", aq, gq)
	e.same("dk of a second run", ak, gk)
	e.same("dv of a second run", av, gv)
}
