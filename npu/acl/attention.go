//go:build ascend && cgo

package acl

import (
	"fmt"
	"math"

	"bloom/npu"
)

// Attention is composed from aclnn operators on strided views of q, k and
// v: BatchMatMul for the scores, InplaceMuls by 1/√HD, the ALiBi bias and
// the mask (both built on the host from the shape, and uploaded),
// InplaceMaskedFillScalar with the float32 minimum (so a query that sees no
// key gets a uniform row, as HF's masked_fill makes it), Softmax, and
// BatchMatMul by v. The backward runs the same chain back.

// checkAttention panics unless s is consistent.
func checkAttention(op string, s npu.AttentionShape) {
	dims(op, s.B, s.Tq, s.Tk, s.NH, s.HD, s.Cap)
	if err := s.Check(); err != nil {
		panic(fmt.Sprintf("acl: %s: %v", op, err))
	}
}

// attnHost is what the host builds for one call: the ALiBi term
// slope·pos (B,NH,Tk), with pos HF's (cumsum(mask)−1)·mask for the keys
// that are tokens, and the mask (B,Tq,Tk) of the keys a query does not see.
func attnHost(s npu.AttentionShape) (bias []float32, hidden []bool) {
	visible := func(b, j int) bool { return s.Mask == nil || s.Mask[b*s.Tk+j] != 0 }
	bias = make([]float32, s.B*s.NH*s.Tk)
	hidden = make([]bool, s.B*s.Tq*s.Tk)
	pos := make([]float32, s.Tk)
	for b := range s.B {
		n := 0
		for j := range s.Tk {
			pos[j] = float32(n)
			if visible(b, j) {
				n++
			}
		}
		for h := range s.NH {
			for j := range s.Tk {
				bias[(b*s.NH+h)*s.Tk+j] = s.Slopes[h] * pos[j]
			}
		}
		for i := range s.Tq {
			for j := range s.Tk {
				hidden[(b*s.Tq+i)*s.Tk+j] = j > s.Tk-s.Tq+i || !visible(b, j)
			}
		}
	}
	return bias, hidden
}

// attnViews are the tensors both directions use.
type attnViews struct {
	s                npu.AttentionShape
	bnh              int
	q, k, kT, v, vT  tensor // q (BNH,Tq,HD); k, v (BNH,Tk,HD) and their transposes, strided over the cache
	hidden           tensor // (B,1,Tq,Tk) bool
	probs, probsT    tensor // (BNH,Tq,Tk) and (BNH,Tk,Tq)
	scale            float32
	outShape, outStr []int // out and dout (B,Tq,NH,HD) as (B,NH,Tq,HD)
}

func (a *arena) attnViews(s npu.AttentionShape, q, k, v, probs Buf, hidden []bool) *attnViews {
	B, NH, Tq, Tk, HD, Cap := s.B, s.NH, s.Tq, s.Tk, s.HD, s.Cap
	bnh := B * NH
	kv := []int{bnh, Tk, HD}
	kvStr, kvTStr := []int{Cap * HD, HD, 1}, []int{Cap * HD, 1, HD}
	return &attnViews{
		s: s, bnh: bnh,
		q: a.t(q, bnh, Tq, HD), k: a.ts(k, 0, kv, kvStr), kT: a.ts(k, 0, []int{bnh, HD, Tk}, kvTStr),
		v: a.ts(v, 0, kv, kvStr), vT: a.ts(v, 0, []int{bnh, HD, Tk}, kvTStr),
		hidden: a.bools(hidden, B, 1, Tq, Tk),
		probs:  a.t(probs, bnh, Tq, Tk), probsT: a.ts(probs, 0, []int{bnh, Tk, Tq}, []int{Tq * Tk, 1, Tk}),
		scale:    float32(1 / math.Sqrt(float64(HD))),
		outShape: []int{B, NH, Tq, HD}, outStr: []int{Tq * NH * HD, HD, NH * HD, 1},
	}
}

// AttentionForward reads q (B,NH,Tq,HD), k and v (B,NH,Cap,HD), writes out
// (B,Tq,NH,HD) and saves probs (B,NH,Tq,Tk).
func (d *Device) AttentionForward(out, probs, q, k, v npu.Buf, s npu.AttentionShape) {
	const op = "AttentionForward"
	checkAttention(op, s)
	B, NH, Tq, Tk, HD, Cap := s.B, s.NH, s.Tq, s.Tk, s.HD, s.Cap
	o := d.f32(op, "out", out, B*Tq*NH*HD)
	p := d.f32(op, "probs", probs, B*NH*Tq*Tk)
	qv := d.f32(op, "q", q, B*NH*Tq*HD)
	kv := d.f32(op, "k", k, B*NH*Cap*HD)
	vv := d.f32(op, "v", v, B*NH*Cap*HD)
	if B*NH*Tq*HD == 0 {
		return
	}
	bias, hidden := attnHost(s)
	d.kernel(op, func(a *arena) {
		w := a.attnViews(s, qv, kv, vv, p, hidden)
		sc := a.tmp(w.bnh * Tq * Tk)
		a.bmm(w.q, w.kT, a.t(sc, w.bnh, Tq, Tk))
		s4 := a.t(sc, B, NH, Tq, Tk)
		a.scale(s4, w.scale)
		a.addTo(s4, a.floats(bias, B, NH, 1, Tk), 1)
		a.maskedFill(s4, w.hidden, -math.MaxFloat32)
		a.softmax(a.t(sc, w.bnh*Tq, Tk), a.t(p, w.bnh*Tq, Tk))
		ot := a.tmp(w.bnh * Tq * HD)
		a.bmm(w.probs, w.v, a.t(ot, w.bnh, Tq, HD))
		a.copy(a.ts(o, 0, w.outShape, w.outStr), a.t(ot, B, NH, Tq, HD))
	})
}

// AttentionBackward adds into dq (B,NH,Tq,HD), dk and dv (B,NH,Cap,HD)
// from dout (B,Tq,NH,HD) and the saved probs. Masked scores are constants,
// so their gradients are zeroed after the softmax's backward; a query that
// sees no key thus moves no score and gives v its uniform share.
func (d *Device) AttentionBackward(dq, dk, dv, dout, q, k, v, probs npu.Buf, s npu.AttentionShape) {
	const op = "AttentionBackward"
	checkAttention(op, s)
	B, NH, Tq, Tk, HD, Cap := s.B, s.NH, s.Tq, s.Tk, s.HD, s.Cap
	dqv := d.f32(op, "dq", dq, B*NH*Tq*HD)
	dkv := d.f32(op, "dk", dk, B*NH*Cap*HD)
	dvv := d.f32(op, "dv", dv, B*NH*Cap*HD)
	dy := d.f32(op, "dout", dout, B*Tq*NH*HD)
	qv := d.f32(op, "q", q, B*NH*Tq*HD)
	kv := d.f32(op, "k", k, B*NH*Cap*HD)
	vv := d.f32(op, "v", v, B*NH*Cap*HD)
	p := d.f32(op, "probs", probs, B*NH*Tq*Tk)
	if B*NH*Tq*HD == 0 {
		return
	}
	_, hidden := attnHost(s)
	d.kernel(op, func(a *arena) {
		w := a.attnViews(s, qv, kv, vv, p, hidden)
		bnh := w.bnh
		g := a.tmp(bnh * Tq * HD) // dout as (BNH,Tq,HD)
		gt := a.t(g, bnh, Tq, HD)
		a.copy(a.t(g, B, NH, Tq, HD), a.ts(dy, 0, w.outShape, w.outStr))
		kvStr := []int{Cap * HD, HD, 1}

		// dv += Pᵀ·dout.
		t := a.tmp(bnh * Tk * HD)
		a.bmm(w.probsT, gt, a.t(t, bnh, Tk, HD))
		a.addTo(a.ts(dvv, 0, []int{bnh, Tk, HD}, kvStr), a.t(t, bnh, Tk, HD), 1)

		// dS = softmax'(dP) with dP = dout·vᵀ, zero where masked.
		dp, ds := a.tmp(bnh*Tq*Tk), a.tmp(bnh*Tq*Tk)
		a.bmm(gt, w.vT, a.t(dp, bnh, Tq, Tk))
		a.softmaxBackward(a.t(dp, bnh*Tq, Tk), a.t(p, bnh*Tq, Tk), a.t(ds, bnh*Tq, Tk))
		a.maskedFill(a.t(ds, B, NH, Tq, Tk), w.hidden, 0)

		// dq += dS·k/√HD; dk += dSᵀ·q/√HD.
		gq := a.tmp(bnh * Tq * HD)
		a.bmm(a.t(ds, bnh, Tq, Tk), w.k, a.t(gq, bnh, Tq, HD))
		a.addTo(a.t(dqv, bnh, Tq, HD), a.t(gq, bnh, Tq, HD), w.scale)
		gk := a.tmp(bnh * Tk * HD)
		a.bmm(a.ts(ds, 0, []int{bnh, Tk, Tq}, []int{Tq * Tk, 1, Tk}), w.q, a.t(gk, bnh, Tk, HD))
		a.addTo(a.ts(dkv, 0, []int{bnh, Tk, HD}, kvStr), a.t(gk, bnh, Tk, HD), w.scale)
	})
}

// SplitQKV copies fused qkv (B,T,NH,3,HD) into q (B,NH,T,HD) and into k
// and v (B,NH,Cap,HD) at time offset t0, one InplaceCopy per part between
// strided views.
func (d *Device) SplitQKV(q, k, v, qkv npu.Buf, B, T, NH, HD, Cap, t0 int) {
	const op = "SplitQKV"
	checkQKV(op, B, T, NH, HD, Cap, t0)
	qv := d.f32(op, "q", q, B*NH*T*HD)
	kv := d.f32(op, "k", k, B*NH*Cap*HD)
	vv := d.f32(op, "v", v, B*NH*Cap*HD)
	f := d.f32(op, "qkv", qkv, B*T*NH*3*HD)
	if B*T*NH*HD == 0 {
		return
	}
	d.kernel(op, func(a *arena) {
		shape, src := []int{B, NH, T, HD}, []int{T * NH * 3 * HD, 3 * HD, NH * 3 * HD, 1}
		cache := []int{NH * Cap * HD, Cap * HD, HD, 1}
		a.copy(a.t(qv, B, NH, T, HD), a.ts(f, 0, shape, src))
		a.copy(a.ts(kv, t0*HD, shape, cache), a.ts(f, HD, shape, src))
		a.copy(a.ts(vv, t0*HD, shape, cache), a.ts(f, 2*HD, shape, src))
	})
}

// MergeQKVBackward adds dq, dk and dv (as SplitQKV's) into dqkv
// (B,T,NH,3,HD), one InplaceAdd per part into a strided view.
func (d *Device) MergeQKVBackward(dqkv, dq, dk, dv npu.Buf, B, T, NH, HD, Cap, t0 int) {
	const op = "MergeQKVBackward"
	checkQKV(op, B, T, NH, HD, Cap, t0)
	f := d.f32(op, "dqkv", dqkv, B*T*NH*3*HD)
	qv := d.f32(op, "dq", dq, B*NH*T*HD)
	kv := d.f32(op, "dk", dk, B*NH*Cap*HD)
	vv := d.f32(op, "dv", dv, B*NH*Cap*HD)
	if B*T*NH*HD == 0 {
		return
	}
	d.kernel(op, func(a *arena) {
		shape, dst := []int{B, NH, T, HD}, []int{T * NH * 3 * HD, 3 * HD, NH * 3 * HD, 1}
		cache := []int{NH * Cap * HD, Cap * HD, HD, 1}
		a.addTo(a.ts(f, 0, shape, dst), a.t(qv, B, NH, T, HD), 1)
		a.addTo(a.ts(f, HD, shape, dst), a.ts(kv, t0*HD, shape, cache), 1)
		a.addTo(a.ts(f, 2*HD, shape, dst), a.ts(vv, t0*HD, shape, cache), 1)
	})
}

// checkQKV panics unless the split sizes are consistent.
func checkQKV(op string, B, T, NH, HD, Cap, t0 int) {
	dims(op, B, T, NH, HD, Cap, t0)
	if t0+T > Cap {
		panic(fmt.Sprintf("acl: %s: times %d..%d do not fit a cache of %d", op, t0, t0+T, Cap))
	}
}
