package collective

import "math"

// Float16 and bfloat16 conversions. Rounding is to nearest, ties to even, as
// IEEE 754 and every accelerator do; NaN stays NaN (quiet).

// F32ToF16 rounds f to the nearest IEEE binary16 value.
func F32ToF16(f float32) uint16 {
	b := math.Float32bits(f)
	sign := uint16(b>>16) & 0x8000
	exp := int32(b>>23) & 0xff
	man := b & 0x7fffff
	switch {
	case exp == 0xff: // inf or NaN
		if man != 0 {
			return sign | 0x7e00 | uint16(man>>13)
		}
		return sign | 0x7c00
	case exp > 142: // >= 2^16: overflow to inf
		return sign | 0x7c00
	case exp >= 113: // normal half: exponent 1..30
		h := uint32(exp-112)<<10 | man>>13
		rest := man & 0x1fff
		if rest > 0x1000 || rest == 0x1000 && h&1 == 1 {
			h++ // may carry into the exponent, and up to inf: both correct
		}
		return sign | uint16(h)
	case exp >= 102: // subnormal half
		m := man | 0x800000
		shift := uint32(126 - exp) // 14..24
		h := m >> shift
		rest := m & (1<<shift - 1)
		half := uint32(1) << (shift - 1)
		if rest > half || rest == half && h&1 == 1 {
			h++
		}
		return sign | uint16(h)
	default:
		return sign
	}
}

// F16ToF32 widens an IEEE binary16 value exactly.
func F16ToF32(h uint16) float32 {
	sign := uint32(h&0x8000) << 16
	exp := uint32(h>>10) & 0x1f
	man := uint32(h & 0x3ff)
	switch {
	case exp == 0x1f:
		return math.Float32frombits(sign | 0x7f800000 | man<<13)
	case exp != 0:
		return math.Float32frombits(sign | (exp+112)<<23 | man<<13)
	case man == 0:
		return math.Float32frombits(sign)
	default: // subnormal: normalise
		e := uint32(113)
		for man&0x400 == 0 {
			man <<= 1
			e--
		}
		return math.Float32frombits(sign | e<<23 | (man&0x3ff)<<13)
	}
}

// F32ToBF16 rounds f to the nearest bfloat16 value.
func F32ToBF16(f float32) uint16 {
	b := math.Float32bits(f)
	if b&0x7fffffff > 0x7f800000 { // NaN: keep it quiet
		return uint16(b>>16) | 0x40
	}
	b += 0x7fff + (b>>16)&1
	return uint16(b >> 16)
}

// BF16ToF32 widens a bfloat16 value exactly.
func BF16ToF32(h uint16) float32 { return math.Float32frombits(uint32(h) << 16) }

// widen converts n 16-bit floats in src to float32s in dst (dst holds 4n bytes).
func widen(dt DataType, dst, src []byte) {
	d, s := asF32(dst), asU16(src)
	if dt == Float16 {
		for i, v := range s {
			d[i] = F16ToF32(v)
		}
		return
	}
	for i, v := range s {
		d[i] = BF16ToF32(v)
	}
}

// narrow rounds float32s in src to 16-bit floats in dst, once.
func narrow(dt DataType, dst, src []byte) {
	d, s := asU16(dst), asF32(src)
	if dt == Float16 {
		for i, v := range s {
			d[i] = F32ToF16(v)
		}
		return
	}
	for i, v := range s {
		d[i] = F32ToBF16(v)
	}
}
