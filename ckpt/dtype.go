package ckpt

// DType names a safetensors dtype as the format spells it.
type DType string

// The dtypes this package knows. Every one of them can be opened; Float32
// reads the floating ones and Int64 the integer ones, WriteSafetensors writes
// F32, F16 and BF16 (and I64 for integer tensors).
const (
	F64     DType = "F64"
	F32     DType = "F32"
	F16     DType = "F16"
	BF16    DType = "BF16"
	F8E5M2  DType = "F8_E5M2"
	F8E4M3  DType = "F8_E4M3"
	I64     DType = "I64"
	I32     DType = "I32"
	I16     DType = "I16"
	I8      DType = "I8"
	U64     DType = "U64"
	U32     DType = "U32"
	U16     DType = "U16"
	U8      DType = "U8"
	BOOL    DType = "BOOL"
	C64     DType = "C64"
	F8E8M0  DType = "F8_E8M0"
	unknown DType = ""
)

// dtypeSizes gives the element size in bytes of every known dtype.
var dtypeSizes = map[DType]int{
	F64: 8, F32: 4, F16: 2, BF16: 2, F8E5M2: 1, F8E4M3: 1, F8E8M0: 1,
	I64: 8, I32: 4, I16: 2, I8: 1, U64: 8, U32: 4, U16: 2, U8: 1, BOOL: 1,
	C64: 8,
}

// Size is the size of one element in bytes, or 0 for a dtype this package
// does not know.
func (d DType) Size() int { return dtypeSizes[d] }

// Known reports whether d is a dtype this package can open.
func (d DType) Known() bool { return d.Size() > 0 }

// IsFloat reports whether Float32 can read tensors of this dtype.
func (d DType) IsFloat() bool {
	switch d {
	case F64, F32, F16, BF16, F8E5M2, F8E4M3:
		return true
	}
	return false
}

// IsInt reports whether Int64 can read tensors of this dtype.
func (d DType) IsInt() bool {
	switch d {
	case I64, I32, I16, I8, U64, U32, U16, U8, BOOL:
		return true
	}
	return false
}
