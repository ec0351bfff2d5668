//go:build ascend && cgo

package acl

/*
#include "acl.h"
*/
import "C"

import (
	"fmt"
	"unsafe"

	"bloom/npu"
)

// noBF16 panics with ErrNoBF16 on a 910 asked for t = BF16.
func (d *Device) noBF16(t npu.DType) {
	if t == npu.BF16 && d.is910 {
		panic(fmt.Errorf("%w (NPU %d is a %s)", ErrNoBF16, d.index, d.soc))
	}
}

// AllocHalf returns n zeroed values of type t (npu.F16, or npu.BF16 on
// 910B: a 910 panics with ErrNoBF16).
func (d *Device) AllocHalf(t npu.DType, n int) npu.HalfBuf {
	dims("AllocHalf", n)
	if t != npu.F16 && t != npu.BF16 {
		panic(fmt.Sprintf("acl: AllocHalf: %v is not a half type", t))
	}
	d.noBF16(t)
	var b HalfBuf
	d.do(func() { b = HalfBuf{d.malloc("AllocHalf", 2*n), 0, n, t} })
	return b
}

// WriteHalf copies min(len(src), dst.Len()) values' bits into dst, after
// the queued kernels have run, and keeps neither.
func (d *Device) WriteHalf(dst npu.HalfBuf, src []uint16) {
	x := d.f16("WriteHalf", "dst", dst, 0)
	n := min(len(src), x.n)
	if n == 0 {
		return
	}
	d.do(func() {
		d.sync("WriteHalf")
		p, room := at(x.a, x.off, 2)
		d.check("WriteHalf", "aclrtMemcpy", C.aclrtMemcpy(p, room, unsafe.Pointer(&src[0]), C.size_t(2*n), C.ACL_MEMCPY_HOST_TO_DEVICE))
	})
}

// ReadHalf copies min(len(dst), src.Len()) values' bits into host memory,
// after the queued kernels have run, and keeps neither.
func (d *Device) ReadHalf(dst []uint16, src npu.HalfBuf) {
	x := d.f16("ReadHalf", "src", src, 0)
	n := min(len(dst), x.n)
	if n == 0 {
		return
	}
	d.do(func() {
		d.sync("ReadHalf")
		p, _ := at(x.a, x.off, 2)
		d.check("ReadHalf", "aclrtMemcpy", C.aclrtMemcpy(unsafe.Pointer(&dst[0]), C.size_t(2*n), p, C.size_t(2*n), C.ACL_MEMCPY_DEVICE_TO_HOST))
	})
}

// ToHalf rounds the first n values of src to dst's type with aclnnCast
// (to nearest, ties to even).
func (d *Device) ToHalf(dst npu.HalfBuf, src npu.Buf, n int) {
	dims("ToHalf", n)
	h, f := d.f16("ToHalf", "dst", dst, n), d.f32("ToHalf", "src", src, n)
	if n == 0 {
		return
	}
	d.kernel("ToHalf", func(a *arena) { a.cast(a.t(f, n), halfType(h.t), a.th(h, n)) })
}

// FromHalf widens the first n values of src to float32 in dst.
func (d *Device) FromHalf(dst npu.Buf, src npu.HalfBuf, n int) {
	dims("FromHalf", n)
	f, h := d.f32("FromHalf", "dst", dst, n), d.f16("FromHalf", "src", src, n)
	if n == 0 {
		return
	}
	d.kernel("FromHalf", func(a *arena) { a.cast(a.th(h, n), tF32, a.t(f, n)) })
}

// GemmHalf computes C = alpha·op(A)·op(B) + beta·C for half A and B: it
// widens the stored spans of A and B to float32 (exactly) and runs the
// float32 Gemm. On 910 that Gemm rounds its operands to fp16, which leaves
// fp16 values as they are, so the products stay exact there too.
func (d *Device) GemmHalf(transA, transB bool, m, n, k int, alpha float32, a npu.HalfBuf, lda int, b npu.HalfBuf, ldb int, beta float32, c npu.Buf, ldc int) {
	const op = "GemmHalf"
	dims(op, m, n, k)
	ar, ac := stored(transA, m, k)
	br, bc := stored(transB, k, n)
	na, nb := matLen(op, "a", ar, ac, lda), matLen(op, "b", br, bc, ldb)
	av, bv := d.f16(op, "a", a, na), d.f16(op, "b", b, nb)
	if av.t != bv.t {
		panic(fmt.Sprintf("acl: %s: a is %v and b is %v; they must have one type", op, av.t, bv.t))
	}
	d.noBF16(av.t)
	cv := d.f32(op, "c", c, matLen(op, "c", m, n, ldc))
	if m == 0 || n == 0 {
		return
	}
	d.kernel(op, func(x *arena) {
		var aw, bw Buf
		if k > 0 {
			aw, bw = x.tmp(na), x.tmp(nb)
			x.cast(x.th(av, na), tF32, x.t(aw, na))
			x.cast(x.th(bv, nb), tF32, x.t(bw, nb))
		}
		x.gemm(transA, transB, m, n, k, alpha, aw, lda, bw, ldb, beta, cv, ldc)
	})
}
