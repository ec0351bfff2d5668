//go:build ascend && cgo

package acl

/*
#include "acl.h"
*/
import "C"

import (
	"unsafe"

	"bloom/npu"
)

// LayerNormForward normalizes in (rows,cols) into out with aclnnLayerNorm
// and saves mean and rstd (rows).
func (d *Device) LayerNormForward(out, mean, rstd, in, weight, bias npu.Buf, rows, cols int, eps float32) {
	const op = "LayerNormForward"
	dims(op, rows, cols)
	o, x := d.f32(op, "out", out, rows*cols), d.f32(op, "in", in, rows*cols)
	mu, rs := d.f32(op, "mean", mean, rows), d.f32(op, "rstd", rstd, rows)
	w, b := d.f32(op, "weight", weight, cols), d.f32(op, "bias", bias, cols)
	if rows*cols == 0 {
		return
	}
	d.kernel(op, func(a *arena) {
		xt, wt, bt, ot := a.t(x, rows, cols), a.t(w, cols), a.t(b, cols), a.t(o, rows, cols)
		mt, rt, shape := a.t(mu, rows, 1), a.t(rs, rows, 1), a.intArray(cols)
		e := C.double(eps)
		a.run("aclnnLayerNorm", func(ws *C.uint64_t, ex **C.aclOpExecutor) C.aclnnStatus {
			return C.aclnnLayerNormGetWorkspaceSize(xt, shape, wt, bt, e, ot, mt, rt, ws, ex)
		})
	})
}

// LayerNormBackward adds into din (rows,cols), dweight and dbias (cols):
// aclnnLayerNormBackward writes its gradients, so it writes scratch memory
// that is then added.
func (d *Device) LayerNormBackward(din, dweight, dbias, dout, in, weight, mean, rstd npu.Buf, rows, cols int) {
	const op = "LayerNormBackward"
	dims(op, rows, cols)
	dx, dw, db := d.f32(op, "din", din, rows*cols), d.f32(op, "dweight", dweight, cols), d.f32(op, "dbias", dbias, cols)
	dy, x, w := d.f32(op, "dout", dout, rows*cols), d.f32(op, "in", in, rows*cols), d.f32(op, "weight", weight, cols)
	mu, rs := d.f32(op, "mean", mean, rows), d.f32(op, "rstd", rstd, rows)
	if rows*cols == 0 {
		return
	}
	d.kernel(op, func(a *arena) {
		gx, gw, gb := a.tmp(rows*cols), a.tmp(cols), a.tmp(cols)
		gxt, gwt, gbt := a.t(gx, rows, cols), a.t(gw, cols), a.t(gb, cols)
		dyt, xt, wt := a.t(dy, rows, cols), a.t(x, rows, cols), a.t(w, cols)
		mt, rt, shape, mask := a.t(mu, rows, 1), a.t(rs, rows, 1), a.intArray(cols), a.boolArray(true, true, true)
		a.run("aclnnLayerNormBackward", func(ws *C.uint64_t, ex **C.aclOpExecutor) C.aclnnStatus {
			return C.aclnnLayerNormBackwardGetWorkspaceSize(dyt, xt, shape, mt, rt, wt, nil, mask, gxt, gwt, gbt, ws, ex)
		})
		a.addTo(a.t(dx, rows, cols), gxt, 1)
		a.addTo(a.t(dw, cols), gwt, 1)
		a.addTo(a.t(db, cols), gbt, 1)
	})
}

// GeluForward is BLOOM's tanh GELU: aclnnGeluV2 with approximate = 1.
func (d *Device) GeluForward(out, in npu.Buf, n int) {
	const op = "GeluForward"
	dims(op, n)
	y, x := d.f32(op, "out", out, n), d.f32(op, "in", in, n)
	if n == 0 {
		return
	}
	d.kernel(op, func(a *arena) {
		xt, yt := a.t(x, n), a.t(y, n)
		a.run("aclnnGeluV2", func(ws *C.uint64_t, ex **C.aclOpExecutor) C.aclnnStatus {
			return C.aclnnGeluV2GetWorkspaceSize(xt, 1, yt, ws, ex)
		})
	})
}

// GeluBackward adds dout·gelu'(in) into din: aclnnGeluBackwardV2 with
// "tanh" into scratch memory, then an add.
func (d *Device) GeluBackward(din, in, dout npu.Buf, n int) {
	const op = "GeluBackward"
	dims(op, n)
	dx, x, dy := d.f32(op, "din", din, n), d.f32(op, "in", in, n), d.f32(op, "dout", dout, n)
	if n == 0 {
		return
	}
	d.kernel(op, func(a *arena) {
		g := a.tmp(n)
		dyt, xt, gt, tanh := a.t(dy, n), a.t(x, n), a.t(g, n), a.cstring("tanh")
		a.run("aclnnGeluBackwardV2", func(ws *C.uint64_t, ex **C.aclOpExecutor) C.aclnnStatus {
			return C.aclnnGeluBackwardV2GetWorkspaceSize(dyt, xt, tanh, gt, ws, ex)
		})
		a.addTo(a.t(dx, n), gt, 1)
	})
}

// Add sets out = a + b; out may alias a or b.
func (d *Device) Add(out, a, b npu.Buf, n int) {
	const op = "Add"
	dims(op, n)
	o, x, y := d.f32(op, "out", out, n), d.f32(op, "a", a, n), d.f32(op, "b", b, n)
	if n == 0 {
		return
	}
	d.kernel(op, func(k *arena) { k.add(k.t(x, n), k.t(y, n), 1, k.t(o, n)) })
}

// Axpy sets y += alpha·x with aclnnInplaceAdd.
func (d *Device) Axpy(y npu.Buf, alpha float32, x npu.Buf, n int) {
	const op = "Axpy"
	dims(op, n)
	yv, xv := d.f32(op, "y", y, n), d.f32(op, "x", x, n)
	if n == 0 {
		return
	}
	d.kernel(op, func(a *arena) { a.addTo(a.t(yv, n), a.t(xv, n), alpha) })
}

// Scale sets x *= s with aclnnInplaceMuls.
func (d *Device) Scale(x npu.Buf, s float32, n int) {
	const op = "Scale"
	dims(op, n)
	xv := d.f32(op, "x", x, n)
	if n == 0 {
		return
	}
	d.kernel(op, func(a *arena) { a.scale(a.t(xv, n), s) })
}

// SumSquares returns Σx² accumulated in float64. The device has no float64
// sum, so the values are read back (after the queued kernels) and summed
// on the host in order: 4·n bytes cross the bus.
func (d *Device) SumSquares(x npu.Buf, n int) float64 {
	const op = "SumSquares"
	dims(op, n)
	xv := d.f32(op, "x", x, n)
	if n == 0 {
		return 0
	}
	host := make([]float32, n)
	d.do(func() {
		d.sync(op)
		p, _ := at(xv.a, xv.off, 4)
		d.check(op, "aclrtMemcpy", C.aclrtMemcpy(unsafe.Pointer(&host[0]), C.size_t(4*n), p, C.size_t(4*n), C.ACL_MEMCPY_DEVICE_TO_HOST))
	})
	s := 0.0
	for _, v := range host {
		s += float64(v) * float64(v)
	}
	return s
}

// SoftmaxForward is aclnnSoftmax over the rows of in (rows,cols).
func (d *Device) SoftmaxForward(out, in npu.Buf, rows, cols int) {
	const op = "SoftmaxForward"
	dims(op, rows, cols)
	y, x := d.f32(op, "out", out, rows*cols), d.f32(op, "in", in, rows*cols)
	if rows*cols == 0 {
		return
	}
	d.kernel(op, func(a *arena) { a.softmax(a.t(x, rows, cols), a.t(y, rows, cols)) })
}

// SoftmaxBackward adds out ⊙ (dout − Σ dout⊙out) into din:
// aclnnSoftmaxBackward into scratch memory, then an add.
func (d *Device) SoftmaxBackward(din, out, dout npu.Buf, rows, cols int) {
	const op = "SoftmaxBackward"
	dims(op, rows, cols)
	dx, y, dy := d.f32(op, "din", din, rows*cols), d.f32(op, "out", out, rows*cols), d.f32(op, "dout", dout, rows*cols)
	if rows*cols == 0 {
		return
	}
	d.kernel(op, func(a *arena) {
		g := a.tmp(rows * cols)
		gt := a.t(g, rows, cols)
		a.softmaxBackward(a.t(dy, rows, cols), a.t(y, rows, cols), gt)
		a.addTo(a.t(dx, rows, cols), gt, 1)
	})
}
