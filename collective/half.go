package collective

import "bloom/internal/half"

// Float16 and bfloat16 elements are reduced in float32: widened exactly,
// summed, and rounded back once, to nearest with ties to even, by
// internal/half (the one definition of the formats, shared with checkpoints
// and devices, with vector kernels where the CPU has them).

// widen converts n 16-bit floats in src to float32s in dst (dst holds 4n bytes).
func widen(dt DataType, dst, src []byte) {
	d, s := asF32(dst), asU16(src)
	if dt == Float16 {
		half.FromF16(d, s)
		return
	}
	half.FromBF16(d, s)
}

// narrow rounds float32s in src to 16-bit floats in dst, once.
func narrow(dt DataType, dst, src []byte) {
	d, s := asU16(dst), asF32(src)
	if dt == Float16 {
		half.ToF16(d, s)
		return
	}
	half.ToBF16(d, s)
}
