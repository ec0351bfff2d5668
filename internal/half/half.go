package half

import "math"

// F32ToF16 rounds f to the nearest IEEE 754 binary16 value, ties to even, and
// returns its bits. Values at or above 65520 (halfway from the largest finite
// value, 65504, to 2^16) become ±Inf; values too small for a normal become
// subnormals or ±0 (the sign is kept); a NaN becomes a quiet NaN with the
// same sign and the top ten bits of its payload.
func F32ToF16(f float32) uint16 {
	bits := math.Float32bits(f)
	sign := uint16(bits>>16) & 0x8000
	exp := int(bits>>23) & 0xff
	mant := bits & 0x7fffff
	if exp == 0xff {
		if mant == 0 {
			return sign | 0x7c00
		}
		return sign | 0x7e00 | uint16(mant>>13)
	}
	e := exp - 127 + 15
	if e >= 0x1f {
		return sign | 0x7c00
	}
	if e > 0 {
		h := uint32(e)<<10 | mant>>13
		// A carry out of the mantissa bumps the exponent, up to Inf: correct.
		return sign | uint16(roundEven(h, mant&0x1fff, 0x1000))
	}
	// Subnormal half (or zero): value = m·2^(exp-150) = k·2^-24.
	shift := uint(126 - exp) // ≥ 14
	if shift > 25 {
		return sign // below half the smallest subnormal
	}
	m := mant | 0x800000
	k := m >> shift
	return sign | uint16(roundEven(k, m&(1<<shift-1), 1<<(shift-1)))
}

// roundEven rounds the truncated value v up by one when the dropped bits rem
// exceed half, or equal half and v is odd.
func roundEven(v, rem, half uint32) uint32 {
	if rem > half || (rem == half && v&1 == 1) {
		return v + 1
	}
	return v
}

// F16ToF32 widens IEEE 754 binary16 bits to float32, exactly: subnormals
// become normal float32 values, ±0 and ±Inf stay themselves, and a NaN
// becomes a quiet NaN with the same sign and payload (a signalling one gets
// the quiet bit, as the F16C instruction VCVTPH2PS does).
func F16ToF32(h uint16) float32 {
	sign := uint32(h&0x8000) << 16
	exp := uint32(h>>10) & 0x1f
	mant := uint32(h & 0x3ff)
	switch {
	case exp == 0x1f && mant == 0: // Inf
		return math.Float32frombits(sign | 0x7f800000)
	case exp == 0x1f: // NaN
		return math.Float32frombits(sign | 0x7fc00000 | mant<<13)
	case exp != 0: // normal
		return math.Float32frombits(sign | (exp+127-15)<<23 | mant<<13)
	case mant == 0: // signed zero
		return math.Float32frombits(sign)
	}
	// Subnormal: mant·2^-24. Shift the leading one up to the implicit bit.
	e := uint32(127 - 15 + 1)
	for mant&0x400 == 0 {
		mant <<= 1
		e--
	}
	return math.Float32frombits(sign | e<<23 | (mant&0x3ff)<<13)
}

// F32ToBF16 rounds f to the nearest bfloat16 value, ties to even, and returns
// its bits: the top half of the float32's bits, rounded. Overflow past the
// largest finite bfloat16 gives ±Inf; float32 subnormals round like any other
// value; a NaN becomes a quiet NaN with the same sign and the top seven bits
// of its payload (rounding could otherwise carry a NaN into Inf).
func F32ToBF16(f float32) uint16 {
	bits := math.Float32bits(f)
	if bits&0x7fffffff > 0x7f800000 {
		return uint16(bits>>16) | 0x40
	}
	bits += 0x7fff + (bits>>16)&1
	return uint16(bits >> 16)
}

// BF16ToF32 widens bfloat16 bits to float32, exactly: they are the top half
// of the float32's bits. A NaN keeps its bits, signalling or not.
func BF16ToF32(b uint16) float32 { return math.Float32frombits(uint32(b) << 16) }
