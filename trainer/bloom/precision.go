package bloom

import (
	"fmt"

	"bloom/npu"
)

// SetPrecision makes the matrix products of m's linears and head round
// their operands to t (npu.F16 or npu.BF16) and accumulate in float32, as
// the package doc's table says; npu.F32 (the default) computes them in float32.
func (m *Model) SetPrecision(t npu.DType) error {
	switch t {
	case npu.F32:
		m.dev = m.Dev
	case npu.F16, npu.BF16:
		m.dev = &halfGemm{Device: m.Dev, t: t}
	default:
		return fmt.Errorf("%w: unknown precision %v", ErrConfig, t)
	}
	m.precision = t
	m.UnpackWeights() // packed in the old precision (PackWeights)
	m.train = nil     // its linears' inputs are kept in the old type
	if len(m.slots) > 0 {
		n, s := len(m.slots), m.slots[0]
		m.slots = nil
		m.PrepareSlots(n, s.B, s.Tq)
	}
	return nil
}

// keep is the type the training passes keep the linears' inputs in for
// the backward (linearIn): the products' half type under half precision
// (unless fp32Acts), else F32.
func (m *Model) keep() npu.DType {
	if m.fp32Acts {
		return npu.F32
	}
	return m.precision
}

// Precision is the type m's matrix products round their operands to.
func (m *Model) Precision() npu.DType { return m.precision }

// halfGemm is a device whose Gemm rounds both operands to a half type and
// multiplies them with GemmHalf; every other operation is the device's own.
// Its scratch is not safe for concurrent use: a model runs one pass at a
// time.
type halfGemm struct {
	npu.Device
	t    npu.DType
	a, b npu.HalfBuf // the rounded operands, grown on demand
	r    npu.Buf     // an operand rounded and widened back (gemmPacked)
	// copies makes a RoundingGemmer device multiply rounded copies too
	// (tests: both ways give the same bits).
	copies bool
}

// Gemm computes C = alpha·op(A)·op(B) + beta·C from A and B rounded to
// the half type (see npu.Linear and npu.Half).
func (h *halfGemm) Gemm(transA, transB bool, m, n, k int, alpha float32, a npu.Buf, lda int, b npu.Buf, ldb int, beta float32, c npu.Buf, ldc int) {
	h.gemm(transA, transB, m, n, k, alpha, npu.Operand{F32: a}, lda, npu.Operand{F32: b}, ldb, beta, c, ldc)
}

// gemmA is Gemm with A already rounded to the half type (a linear's input
// kept in half, linearIn): only B is rounded, so the product is the one
// Gemm computes from A's float32 values.
func (h *halfGemm) gemmA(transA, transB bool, m, n, k int, alpha float32, a npu.HalfBuf, lda int, b npu.Buf, ldb int, beta float32, c npu.Buf, ldc int) {
	h.gemm(transA, transB, m, n, k, alpha, npu.Operand{Half: a}, lda, npu.Operand{F32: b}, ldb, beta, c, ldc)
}

// gemmB is Gemm with B already rounded to the half type: only A is
// rounded.
func (h *halfGemm) gemmB(transA, transB bool, m, n, k int, alpha float32, a npu.Buf, lda int, b npu.HalfBuf, ldb int, beta float32, c npu.Buf, ldc int) {
	h.gemm(transA, transB, m, n, k, alpha, npu.Operand{F32: a}, lda, npu.Operand{Half: b}, ldb, beta, c, ldc)
}

// gemm multiplies operands rounded to the half type: in the device's
// packers where it is a npu.RoundingGemmer, else through rounded copies of
// the float32 operands in h's scratch (the same bits either way).
func (h *halfGemm) gemm(transA, transB bool, m, n, k int, alpha float32, a npu.Operand, lda int, b npu.Operand, ldb int, beta float32, c npu.Buf, ldc int) {
	if rg, ok := h.Device.(npu.RoundingGemmer); ok && !h.copies {
		rg.GemmRounded(h.t, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
		return
	}
	if a.F32 != nil {
		na := span(transA, m, k, lda)
		h.a = h.fit(h.a, na)
		a.Half = h.a.Slice(0, na)
		h.ToHalf(a.Half, a.F32, na)
	}
	if b.F32 != nil {
		nb := span(transB, k, n, ldb)
		h.b = h.fit(h.b, nb)
		b.Half = h.b.Slice(0, nb)
		h.ToHalf(b.Half, b.F32, nb)
	}
	h.GemmHalf(transA, transB, m, n, k, alpha, a.Half, lda, b.Half, ldb, beta, c, ldc)
}

// gemmPacked sets out (N,n) = in (N,k)·B for B packed by PackWeights from
// a weight rounded to the half type: in is rounded too (into r) as the
// product starts, so the device multiplies the operands Gemm rounds.
func (h *halfGemm) gemmPacked(N, n, k int, in npu.Buf, pw npu.PackedB, out npu.Buf) {
	na := N * k
	h.a = h.fit(h.a, na)
	if h.r == nil || h.r.Len() < na {
		h.r = h.Alloc(na)
	}
	a, r := h.a.Slice(0, na), h.r.Slice(0, na)
	h.ToHalf(a, in, na)
	h.FromHalf(r, a, na)
	h.Device.(npu.WeightPacker).GemmPacked(false, N, 1, r, k, pw, 0, out, n)
}

// fit returns buf when it holds n values, else a new buffer of n.
func (h *halfGemm) fit(buf npu.HalfBuf, n int) npu.HalfBuf {
	if buf != nil && buf.Len() >= n {
		return buf
	}
	return h.AllocHalf(h.t, n)
}

// span is the number of values a row-major op(X) of rows×cols with leading
// dimension ld covers in memory.
func span(trans bool, rows, cols, ld int) int {
	if trans {
		rows, cols = cols, rows
	}
	if rows == 0 || cols == 0 {
		return 0
	}
	return (rows-1)*ld + cols
}

// halfOf is the half-operand device d is: what a pass with linear inputs
// kept in half (linearIn.h) computes on. Anything else is a programmer
// error: such inputs are allocated only under half precision.
func halfOf(d npu.Device) *halfGemm {
	h, ok := d.(*halfGemm)
	if !ok {
		panic("bloom: a linear input kept in half on a float32 pass")
	}
	return h
}

// fp32 is d without the half rounding of its matrix products: what the LoRA
// adapters multiply with.
func fp32(d npu.Device) npu.Device {
	if h, ok := d.(*halfGemm); ok {
		return h.Device
	}
	return d
}
