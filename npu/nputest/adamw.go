package nputest

import (
	"math"

	"bloom/npu"
)

// testAdamW checks AdamWUpdate over three steps against torch.optim.AdamW's
// formula in float64, each step starting from the device's own state: with
// weight decay and BLOOM's betas, without weight decay, and with β1 < 0.5
// (torch's lerp then takes its other branch).
func testAdamW(e *env) {
	for _, c := range []struct {
		name string
		h    npu.AdamW
	}{
		{"bloom", npu.AdamW{LR: 6e-4, Beta1: 0.9, Beta2: 0.95, Eps: 1e-8, WeightDecay: 0.1}},
		{"no decay", npu.AdamW{LR: 1e-3, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8}},
		{"small beta1", npu.AdamW{LR: 1e-2, Beta1: 0.3, Beta2: 0.9, Eps: 1e-6, WeightDecay: 0.01}},
	} {
		e.run(c.name, func(e *env) { checkAdamW(e, c.h) })
	}
}

// adamRef is one AdamW step in float64 from float32 state, with tolerances
// (each doubled for slack):
//   - m = m + w·(g − m) or β1·m + (1−β1)·g: a few roundings of values no
//     larger than |m| + |g|;
//   - v = β2·v + (1−β2)·g²: terms of one sign, three roundings;
//   - param: the decayed param's rounding, plus the update scaled by the
//     errors of m and of denom = √v/√bc2 + eps, plus a few roundings.
func adamRef(p, g, m, v float64, h npu.AdamW) (pw, mw, vw, pb, mb, vb float64) {
	lr, b1, b2, eps := float64(h.LR), float64(h.Beta1), float64(h.Beta2), float64(h.Eps)
	step := float64(h.Step)
	pd := p * (1 - lr*float64(h.WeightDecay))
	mw = b1*m + (1-b1)*g
	vw = b2*v + (1-b2)*g*g
	mb = 2 * 4 * u * (math.Abs(m) + math.Abs(g))
	vb = 2 * 4 * u * vw
	bc2 := math.Sqrt(1 - math.Pow(b2, step))
	stepSize := lr / (1 - math.Pow(b1, step))
	denom := math.Sqrt(vw)/bc2 + eps
	upd := stepSize * mw / denom
	pw = pd - upd
	relDenom := 8 * u
	if vw > 0 {
		relDenom += vb / (2 * vw)
	}
	pb = 2*(2*u*math.Abs(pd)+stepSize*mb/denom+math.Abs(upd)*(relDenom+8*u)+u*math.Abs(pw)) + tiny
	return
}

func checkAdamW(e *env, h npu.AdamW) {
	const n = 1000
	p, g := e.normal(n, 0, 1), e.normal(n, 0, 0.01)
	copy(g, []float32{0, 0, 1e3, -1e3}) // zero gradients and large ones
	m, v := make([]float32, n), make([]float32, n)
	pb, mb, vb := e.buf(p), e.buf(m), e.buf(v)
	for step := 1; step <= 3; step++ {
		h.Step = step
		wp, wm, wv := make([]float64, n), make([]float64, n), make([]float64, n)
		bp, bm, bv := make([]float64, n), make([]float64, n), make([]float64, n)
		for i := range n {
			wp[i], wm[i], wv[i], bp[i], bm[i], bv[i] = adamRef(float64(p[i]), float64(g[i]), float64(m[i]), float64(v[i]), h)
		}
		again := [3]npu.Buf{e.buf(p), e.buf(m), e.buf(v)}
		gb := e.buf(g)
		e.dev.AdamWUpdate(pb, gb, mb, vb, n, h)
		e.dev.AdamWUpdate(again[0], gb, again[1], again[2], n, h)
		p, m, v = e.get(pb), e.get(mb), e.get(vb)
		e.within(name("param after step %d", step), p, wp, bp)
		e.within(name("m after step %d", step), m, wm, bm)
		e.within(name("v after step %d", step), v, wv, bv)
		e.same(name("param of a second run of step %d", step), e.get(again[0]), p)
		e.same(name("m of a second run of step %d", step), e.get(again[1]), m)
		e.same(name("v of a second run of step %d", step), e.get(again[2]), v)
		g = e.normal(n, 0, 0.01)
	}
}
