package cpu

import (
	"fmt"

	"bloom/internal/half"
	"bloom/npu"
)

// HalfBuf is a cpu buffer of 16-bit values of one half type (npu.F16 or
// npu.BF16), as bits in host memory. A Slice shares memory with its parent
// and cannot grow past the end of the view it was cut as.
type HalfBuf struct {
	t npu.DType
	x []uint16
}

// Len returns the number of values.
func (b HalfBuf) Len() int { return len(b.x) }

// DType returns the values' type.
func (b HalfBuf) DType() npu.DType { return b.t }

// Slice returns the view of n values from off. A range outside the buffer is
// a programmer error and panics.
func (b HalfBuf) Slice(off, n int) npu.HalfBuf {
	if off < 0 || n < 0 || off > len(b.x)-n {
		panic(fmt.Sprintf("cpu: Slice(%d, %d) of a half buffer of %d values", off, n, len(b.x)))
	}
	return HalfBuf{b.t, b.x[off : off+n : off+n]}
}

// Halves returns the bits of a cpu half buffer and their type; the slice
// shares memory with b and is not a copy. A buffer of another backend is a
// programmer error and panics.
func Halves(b npu.HalfBuf) ([]uint16, npu.DType) {
	if x, ok := b.(HalfBuf); ok {
		return x.x, x.t
	}
	panic(fmt.Sprintf("cpu: a %T is not a cpu half buffer; buffers of one backend cannot be used by another", b))
}

// halfView returns the first n values of b for kernel op, or panics naming
// the argument when b is shorter.
func halfView(op, name string, b npu.HalfBuf, n int) ([]uint16, npu.DType) {
	x, t := Halves(b)
	if n < 0 || len(x) < n {
		panic(fmt.Sprintf("cpu: %s: %s has %d values, need %d", op, name, len(x), n))
	}
	return x[:n:n], t
}

// AllocHalf returns n zeroed values of type t, which must be npu.F16 or
// npu.BF16.
func (d *Device) AllocHalf(t npu.DType, n int) npu.HalfBuf {
	dims("AllocHalf", n)
	if t != npu.F16 && t != npu.BF16 {
		panic(fmt.Sprintf("cpu: AllocHalf: %v is not a half type", t))
	}
	return HalfBuf{t, make([]uint16, n)}
}

// WriteHalf copies min(len(src), dst.Len()) values' bits from host memory
// into dst and keeps neither.
func (d *Device) WriteHalf(dst npu.HalfBuf, src []uint16) {
	x, _ := Halves(dst)
	copy(x, src)
}

// ReadHalf copies min(len(dst), src.Len()) values' bits of src into host
// memory and keeps neither.
func (d *Device) ReadHalf(dst []uint16, src npu.HalfBuf) {
	x, _ := Halves(src)
	copy(dst, x)
}

// convGrain is the least number of values a conversion hands a goroutine.
const convGrain = 1 << 15

// ToHalf rounds the first n values of src to dst's type, to nearest, ties
// to even (internal/half's rounding), split across the device's threads.
func (d *Device) ToHalf(dst npu.HalfBuf, src npu.Buf, n int) {
	const op = "ToHalf"
	dims(op, n)
	h, t := halfView(op, "dst", dst, n)
	f := view(op, "src", src, n)
	conv := half.ToF16
	if t == npu.BF16 {
		conv = half.ToBF16
	}
	d.pool.parallelFor(n, convGrain, func(lo, hi int) { conv(h[lo:hi], f[lo:hi]) })
}

// FromHalf widens the first n values of src to float32 in dst, exactly.
func (d *Device) FromHalf(dst npu.Buf, src npu.HalfBuf, n int) {
	const op = "FromHalf"
	dims(op, n)
	h, t := halfView(op, "src", src, n)
	f := view(op, "dst", dst, n)
	d.pool.parallelFor(n, convGrain, func(lo, hi int) { widen(t, f[lo:hi], h[lo:hi]) })
}

// widen converts half values of type t to float32.
func widen(t npu.DType, dst []float32, src []uint16) {
	if t == npu.BF16 {
		half.FromBF16(dst, src)
		return
	}
	half.FromF16(dst, src)
}

// GemmHalf computes C = alpha·op(A)·op(B) + beta·C (see npu.Half): the
// float32 GEMM of the widened operands, with no copy of them. Its packers
// widen A and B, exactly, as they copy panels into the micro-kernel's layout
// (gemm_half.go), so every product the kernel forms is the exact product of
// two halves and only its sums round, in float32; the bits are those of Gemm
// on the widened operands. bf16 on a CPU with AVX512_BF16 runs the
// VDPBF16PS kernel instead (gemm_bf16.go; untested on real hardware), which
// adds the products of each k-pair in turn, flushing subnormals: its bits
// differ from the float32 kernel's. The bits depend on the CPU's kind, never
// on the thread count. Concurrent calls share nothing but the pool of
// packing memory.
func (d *Device) GemmHalf(transA, transB bool, m, n, k int, alpha float32, a npu.HalfBuf, lda int, b npu.HalfBuf, ldb int, beta float32, c npu.Buf, ldc int) {
	const op = "GemmHalf"
	dims(op, m, n, k)
	ar, ac := stored(transA, m, k)
	br, bc := stored(transB, k, n)
	av, at := halfView(op, "a", a, matLen(op, "a", ar, ac, lda))
	bv, bt := halfView(op, "b", b, matLen(op, "b", br, bc, ldb))
	if at != bt {
		panic(fmt.Sprintf("cpu: %s: a is %v and b is %v; they must have one type", op, at, bt))
	}
	cv := view(op, "c", c, matLen(op, "c", m, n, ldc))
	hgemm(d.pool, at, transA, transB, m, n, k, alpha, av, lda, bv, ldb, beta, cv, ldc)
}

// GemmRounded computes C = alpha·op(A)·op(B) + beta·C from operands rounded
// to t (see npu.RoundingGemmer): GemmHalf's nest, whose packers round a
// float32 operand to t and widen it back, exactly, as they copy its panels,
// instead of widening half values. The bits are GemmHalf's on the operands
// ToHalf would give, with no copy of them.
func (d *Device) GemmRounded(t npu.DType, transA, transB bool, m, n, k int, alpha float32, a npu.Operand, lda int, b npu.Operand, ldb int, beta float32, c npu.Buf, ldc int) {
	const op = "GemmRounded"
	dims(op, m, n, k)
	if t != npu.F16 && t != npu.BF16 {
		panic(fmt.Sprintf("cpu: %s: type %v is not a half type", op, t))
	}
	ar, ac := stored(transA, m, k)
	br, bc := stored(transB, k, n)
	fa, ha := operandView(op, "a", t, a, matLen(op, "a", ar, ac, lda))
	fb, hb := operandView(op, "b", t, b, matLen(op, "b", br, bc, ldb))
	cv := view(op, "c", c, matLen(op, "c", m, n, ldc))
	rgemm(d.pool, t, transA, transB, m, n, k, alpha, fa, ha, lda, fb, hb, ldb, beta, cv, ldc)
}

// operandView is view or halfView of whichever of o's buffers is set.
func operandView(op, name string, t npu.DType, o npu.Operand, n int) ([]float32, []uint16) {
	switch {
	case (o.F32 == nil) == (o.Half == nil):
		panic(fmt.Sprintf("cpu: %s: operand %s must be float32 or half, one of them", op, name))
	case o.F32 != nil:
		return view(op, name, o.F32, n), nil
	}
	h, ht := halfView(op, name, o.Half, n)
	if ht != t {
		panic(fmt.Sprintf("cpu: %s: %s is %v, the product rounds to %v", op, name, ht, t))
	}
	return nil, h
}
