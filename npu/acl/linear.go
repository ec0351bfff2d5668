//go:build ascend && cgo

package acl

import (
	"fmt"

	"bloom/npu"
)

// stored is the shape of a matrix as memory holds it: op(X) is rows×cols,
// so X is cols×rows when transposed.
func stored(trans bool, rows, cols int) (int, int) {
	if trans {
		return cols, rows
	}
	return rows, cols
}

// matLen returns the values a row-major rows×cols matrix with leading
// dimension ld spans, or panics when ld is too small.
func matLen(op, name string, rows, cols, ld int) int {
	if ld < max(cols, 1) {
		panic(fmt.Sprintf("acl: %s: leading dimension of %s is %d, need at least %d", op, name, ld, max(cols, 1)))
	}
	if rows == 0 || cols == 0 {
		return 0
	}
	return (rows-1)*ld + cols
}

// Gemm computes C = alpha·op(A)·op(B) + beta·C with aclnnInplaceAddmm on
// strided views: a transpose is a view with its strides swapped. On 910 the
// operands are rounded to fp16 (see the package doc).
func (d *Device) Gemm(transA, transB bool, m, n, k int, alpha float32, a npu.Buf, lda int, b npu.Buf, ldb int, beta float32, c npu.Buf, ldc int) {
	const op = "Gemm"
	dims(op, m, n, k)
	ar, ac := stored(transA, m, k)
	br, bc := stored(transB, k, n)
	av := d.f32(op, "a", a, matLen(op, "a", ar, ac, lda))
	bv := d.f32(op, "b", b, matLen(op, "b", br, bc, ldb))
	cv := d.f32(op, "c", c, matLen(op, "c", m, n, ldc))
	if m == 0 || n == 0 {
		return
	}
	d.kernel(op, func(x *arena) { x.gemm(transA, transB, m, n, k, alpha, av, lda, bv, ldb, beta, cv, ldc) })
}

// gemm queues C = alpha·op(A)·op(B) + beta·C for m, n > 0. beta = 0 zeroes
// C first, so that what C held (NaN included) is not read.
func (x *arena) gemm(transA, transB bool, m, n, k int, alpha float32, a Buf, lda int, b Buf, ldb int, beta float32, c Buf, ldc int) {
	ct := x.ts(c, 0, []int{m, n}, []int{ldc, 1})
	if beta == 0 {
		x.fill(ct, 0)
	}
	if k == 0 {
		if beta != 0 && beta != 1 {
			x.scale(ct, beta)
		}
		return
	}
	at := x.ts(a, 0, []int{m, k}, matStrides(transA, lda))
	bt := x.ts(b, 0, []int{k, n}, matStrides(transB, ldb))
	x.addmm(ct, at, bt, beta, alpha)
}

// matStrides are the strides of op(X) for X stored row-major with leading
// dimension ld.
func matStrides(trans bool, ld int) []int {
	if trans {
		return []int{1, ld}
	}
	return []int{ld, 1}
}

// AddBias adds bias (cols) to every row of out (rows,cols), broadcasting.
func (d *Device) AddBias(out, bias npu.Buf, rows, cols int) {
	const op = "AddBias"
	dims(op, rows, cols)
	o, b := d.f32(op, "out", out, rows*cols), d.f32(op, "bias", bias, cols)
	if rows*cols == 0 {
		return
	}
	d.kernel(op, func(x *arena) { x.addTo(x.t(o, rows, cols), x.t(b, 1, cols), 1) })
}

// BiasBackward adds the column sums of dout (rows,cols) into dbias (cols):
// ReduceSum over the rows, then an add.
func (d *Device) BiasBackward(dbias, dout npu.Buf, rows, cols int) {
	const op = "BiasBackward"
	dims(op, rows, cols)
	db, dy := d.f32(op, "dbias", dbias, cols), d.f32(op, "dout", dout, rows*cols)
	if rows*cols == 0 {
		return
	}
	d.kernel(op, func(x *arena) {
		s := x.tmp(cols)
		x.sum(x.t(dy, rows, cols), 0, x.t(s, cols))
		x.addTo(x.t(db, cols), x.t(s, cols), 1)
	})
}
