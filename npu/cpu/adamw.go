package cpu

import (
	"fmt"
	"math"

	"bloom/npu"
)

// AdamWUpdate updates param, m and v (n values each) from grad as
// torch.optim.AdamW does on the CPU in float32 (foreach=False, fused=False),
// one tensor op at a time:
//
//	param.mul_(1 − lr·wd)
//	m.lerp_(grad, 1 − β1)                       // fma(w, g−m, m), w < 0.5
//	v.mul_(β2).addcmul_(grad, grad, value=1 − β2)
//	denom = (v.sqrt() / √(1 − β2^step)).add_(eps)
//	param.addcdiv_(m, denom, value=−lr/(1 − β1^step))
//
// Scalars are computed in float64 from the hyperparameters, as Python does,
// and rounded to float32 where torch passes them to a kernel.
func (d *Device) AdamWUpdate(param, grad, m, v npu.Buf, n int, h npu.AdamW) {
	const op = "AdamWUpdate"
	if h.Step < 1 {
		panic(fmt.Sprintf("cpu: %s: Step = %d; steps count from 1", op, h.Step))
	}
	p := view(op, "param", param, n)
	g := view(op, "grad", grad, n)
	mv := view(op, "m", m, n)
	vv := view(op, "v", v, n)
	k := newAdamScalars(h)
	d.pool.parallelFor(n, grain/4, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			p[i], mv[i], vv[i] = k.update(p[i], g[i], mv[i], vv[i])
		}
	})
}

// adamScalars are the float32 scalars torch hands its kernels for one step.
type adamScalars struct {
	decay     float32 // 1 − lr·wd
	w         float32 // lerp weight 1 − β1
	small     bool    // |w| < 0.5: lerp from m, else from g
	beta2     float32
	oneMinus2 float32 // 1 − β2
	bc2Sqrt   float32 // √(1 − β2^step)
	eps       float32
	negStep   float32 // −lr/(1 − β1^step)
}

func newAdamScalars(h npu.AdamW) adamScalars {
	lr, b1, b2 := h.LR, h.Beta1, h.Beta2
	step := float64(h.Step)
	w := float32(1 - b1)
	return adamScalars{
		decay:     float32(1 - lr*h.WeightDecay),
		w:         w,
		small:     math.Abs(float64(w)) < 0.5,
		beta2:     float32(b2),
		oneMinus2: float32(1 - b2),
		bc2Sqrt:   float32(math.Sqrt(1 - math.Pow(b2, step))),
		eps:       float32(h.Eps),
		negStep:   float32(-(lr / (1 - math.Pow(b1, step)))),
	}
}

// update returns the new param, m and v of one element.
func (k *adamScalars) update(p, g, m, v float32) (float32, float32, float32) {
	p = float32(p * k.decay)
	// ATen's vectorized lerp: fmadd(coeff, end−start, base). The product of
	// two float32 values is exact in float64, so this rounds like an FMA.
	diff := float64(g - m)
	if k.small {
		m = float32(float64(k.w)*diff + float64(m))
	} else {
		m = float32(float64(k.w-1)*diff + float64(g))
	}
	v = float32(v*k.beta2) + float32(float32(k.oneMinus2*g)*g)
	denom := float32(float32(math.Sqrt(float64(v)))/k.bc2Sqrt) + k.eps
	p += float32(float32(k.negStep*m) / denom)
	return p, m, v
}
