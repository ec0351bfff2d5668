//go:build ascend && cgo

package acl

import (
	"fmt"
	"math"

	"bloom/npu"
)

// AdamWUpdate updates param, m and v (n values each) from grad with
// torch.optim.AdamW's semantics (see npu/cpu), composed from elementwise
// operators on every SoC. The 910 has no fused AdamW; 910B's
// aclnnApplyAdamWV2 takes β2 as a float32 and forms 1 − β2 from it, which
// for β2 = 0.999 is 1.3e-5 (relative) off the 1 − β2 torch forms in float64
// and rounds once, so its v and its steps drift from torch's.
func (d *Device) AdamWUpdate(param, grad, m, v npu.Buf, n int, h npu.AdamW) {
	const op = "AdamWUpdate"
	dims(op, n)
	if h.Step < 1 {
		panic(fmt.Sprintf("acl: %s: Step = %d; steps count from 1", op, h.Step))
	}
	p, g := d.f32(op, "param", param, n), d.f32(op, "grad", grad, n)
	mv, vv := d.f32(op, "m", m, n), d.f32(op, "v", v, n)
	if n == 0 {
		return
	}
	d.kernel(op, func(a *arena) { a.adamw(a.t(p, n), a.t(g, n), a.t(mv, n), a.t(vv, n), n, h) })
}

// adamw is one AdamW step from elementwise operators, with the float32
// scalars torch derives from the float64 hyperparameters:
//
//	param *= 1 − lr·wd
//	m += (1 − β1)·(g − m)
//	v = β2·v + (1 − β2)·g²
//	param += −lr/(1 − β1^step) · m / (√v · (1/√(1 − β2^step)) + eps)
func (a *arena) adamw(p, g, m, v tensor, n int, h npu.AdamW) {
	lr, b1, b2 := h.LR, h.Beta1, h.Beta2
	step := float64(h.Step)
	t := a.t(a.tmp(n), n)
	a.scale(p, float32(1-lr*h.WeightDecay))
	a.sub(g, m, 1, t)
	a.addTo(m, t, float32(1-b1))
	a.scale(v, float32(b2))
	a.mul(g, g, t)
	a.addTo(v, t, float32(1-b2))
	a.sqrt(v, t)
	a.scale(t, float32(1/math.Sqrt(1-math.Pow(b2, step))))
	a.adds(t, float32(h.Eps), 1, t)
	a.div(m, t, t)
	a.addTo(p, t, float32(-(lr / (1 - math.Pow(b1, step)))))
}
