package npu

import "fmt"

// DType is the element type of device memory. The zero value is F32, the
// type of every Buf.
type DType uint8

const (
	F32  DType = iota // IEEE 754 binary32
	F16               // IEEE 754 binary16 ("fp16", "half")
	BF16              // bfloat16: the top 16 bits of a binary32
)

// String returns the type's short name, as the collective's data types and
// the trainer's flags spell it: "fp32", "fp16" or "bf16".
func (t DType) String() string {
	switch t {
	case F32:
		return "fp32"
	case F16:
		return "fp16"
	case BF16:
		return "bf16"
	}
	return fmt.Sprintf("DType(%d)", uint8(t))
}

// ParseDType is the type String names: "fp32", "fp16" or "bf16".
func ParseDType(s string) (DType, error) {
	for _, t := range []DType{F32, F16, BF16} {
		if s == t.String() {
			return t, nil
		}
	}
	return 0, fmt.Errorf("%q is not a type: fp32, fp16 or bf16", s)
}

// HalfBuf is a region of device memory holding 16-bit values of one half
// type (F16 or BF16). Slice returns a view of the same type that shares
// memory with its parent, as Buf's does.
type HalfBuf interface {
	Len() int
	DType() DType
	Slice(off, n int) HalfBuf
}

// Half is storage, conversion and matrix products in half precision, for
// mixed-precision training: weights and activations rounded to F16 or BF16
// for the products, which accumulate in float32 (see the package doc for the
// precision of each operation). Its host form is the values' bits, one
// uint16 each, as internal/half defines them.
type Half interface {
	// AllocHalf returns n zeroed values of half type t (F16 or BF16; F32
	// is a programmer error).
	AllocHalf(t DType, n int) HalfBuf
	// WriteHalf and ReadHalf copy min(len(host), dev.Len()) values, bits
	// unchanged, and keep neither slice.
	WriteHalf(dst HalfBuf, src []uint16)
	ReadHalf(dst []uint16, src HalfBuf)
	// ToHalf rounds the first n values of src to dst's type, to nearest,
	// ties to even.
	ToHalf(dst HalfBuf, src Buf, n int)
	// FromHalf widens the first n values of src to float32 in dst, exactly.
	FromHalf(dst Buf, src HalfBuf, n int)
	// GemmHalf computes C = alpha·op(A)·op(B) + beta·C as Linear's Gemm
	// does, with A and B half values of one type and C float32: every
	// product is formed and summed in float32. beta == 0 overwrites C
	// without reading it.
	GemmHalf(transA, transB bool, m, n, k int, alpha float32, a HalfBuf, lda int, b HalfBuf, ldb int, beta float32, c Buf, ldc int)
}

// Operand is one operand of GemmRounded: float32 values (F32), rounded to
// the product's half type as they are read, or values of that type (Half).
// Exactly one is set.
type Operand struct {
	F32  Buf
	Half HalfBuf
}

// RoundingGemmer is a Half that multiplies float32 operands rounded to a
// half type without a rounded copy of them (mixed precision's products: no
// operand-sized scratch, no separate rounding pass). GemmRounded's result is,
// bit for bit, what ToHalf of each F32 operand into a buffer of type t
// followed by GemmHalf gives; a Half operand must be of type t.
type RoundingGemmer interface {
	GemmRounded(t DType, transA, transB bool, m, n, k int, alpha float32, a Operand, lda int, b Operand, ldb int, beta float32, c Buf, ldc int)
}
