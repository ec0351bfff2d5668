package ckpt

import (
	"encoding/binary"
	"math"
	"sync"
)

// Conversions between float32 and the narrow float formats. Widening is exact;
// narrowing rounds to nearest, ties to even, as IEEE 754 does by default.

// F16ToF32 converts IEEE 754 binary16 bits to float32, exactly: subnormals
// become normal float32 values, Inf stays Inf and a NaN keeps its payload.
func F16ToF32(h uint16) float32 {
	sign := uint32(h&0x8000) << 16
	exp := uint32(h>>10) & 0x1f
	mant := uint32(h & 0x3ff)
	switch {
	case exp == 0x1f: // Inf or NaN
		return math.Float32frombits(sign | 0x7f800000 | mant<<13)
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

// F32ToF16 converts f to IEEE 754 binary16 bits, rounding to nearest even.
// Values too large become ±Inf, values too small become subnormals or ±0, and
// a NaN stays a (quiet) NaN.
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

// BF16ToF32 converts bfloat16 bits to float32, exactly.
func BF16ToF32(b uint16) float32 { return math.Float32frombits(uint32(b) << 16) }

// F32ToBF16 converts f to bfloat16 bits, rounding to nearest even; a NaN stays
// a (quiet) NaN.
func F32ToBF16(f float32) uint16 {
	bits := math.Float32bits(f)
	if bits&0x7fffffff > 0x7f800000 { // NaN: truncating could make it Inf
		return uint16(bits>>16) | 0x40
	}
	bits += 0x7fff + (bits>>16)&1
	return uint16(bits >> 16)
}

// f16Table maps every binary16 bit pattern to its float32 value (256 KiB,
// built on first use): a lookup is about twice as fast as F16ToF32.
var f16Table = sync.OnceValue(func() *[1 << 16]float32 {
	t := new([1 << 16]float32)
	for i := range t {
		t[i] = F16ToF32(uint16(i))
	}
	return t
})

// f8e4m3Table maps every F8_E4M3 (the "fn" variant: bias 7, no Inf, NaN is
// S.1111.111) byte to its float32 value.
var f8e4m3Table = func() (t [256]float32) {
	for i := range t {
		sign := float32(1)
		if i&0x80 != 0 {
			sign = -1
		}
		exp, mant := (i>>3)&0xf, i&7
		switch {
		case exp == 0xf && mant == 7:
			t[i] = float32(math.NaN())
		case exp == 0:
			t[i] = sign * float32(mant) / 8 * float32(math.Ldexp(1, -6))
		default:
			t[i] = sign * (1 + float32(mant)/8) * float32(math.Ldexp(1, exp-7))
		}
	}
	return t
}()

// decodeFloats converts little-endian elements of dtype dt in b to float32,
// writing len(dst) values. b must hold exactly len(dst) elements.
func decodeFloats(dst []float32, b []byte, dt DType) {
	le := binary.LittleEndian
	switch dt {
	case F32:
		for i := range dst {
			dst[i] = math.Float32frombits(le.Uint32(b[4*i:]))
		}
	case F16:
		t := f16Table()
		b = b[:2*len(dst)]
		for i := range dst {
			dst[i] = t[uint16(b[2*i])|uint16(b[2*i+1])<<8]
		}
	case BF16:
		for i := range dst {
			dst[i] = math.Float32frombits(uint32(le.Uint16(b[2*i:])) << 16)
		}
	case F64:
		for i := range dst {
			dst[i] = float32(math.Float64frombits(le.Uint64(b[8*i:])))
		}
	case F8E5M2: // the top byte of a binary16
		t := f16Table()
		for i := range dst {
			dst[i] = t[uint16(b[i])<<8]
		}
	case F8E4M3:
		for i := range dst {
			dst[i] = f8e4m3Table[b[i]]
		}
	default:
		panic("ckpt: decodeFloats: " + string(dt))
	}
}

// decodeInts converts little-endian elements of dtype dt in b to int64. It
// reports false when a U64 value does not fit an int64.
func decodeInts(dst []int64, b []byte, dt DType) bool {
	le := binary.LittleEndian
	switch dt {
	case I64:
		for i := range dst {
			dst[i] = int64(le.Uint64(b[8*i:]))
		}
	case U64:
		for i := range dst {
			v := le.Uint64(b[8*i:])
			if v > math.MaxInt64 {
				return false
			}
			dst[i] = int64(v)
		}
	case I32:
		for i := range dst {
			dst[i] = int64(int32(le.Uint32(b[4*i:])))
		}
	case U32:
		for i := range dst {
			dst[i] = int64(le.Uint32(b[4*i:]))
		}
	case I16:
		for i := range dst {
			dst[i] = int64(int16(le.Uint16(b[2*i:])))
		}
	case U16:
		for i := range dst {
			dst[i] = int64(le.Uint16(b[2*i:]))
		}
	case I8:
		for i := range dst {
			dst[i] = int64(int8(b[i]))
		}
	case U8:
		for i := range dst {
			dst[i] = int64(b[i])
		}
	case BOOL:
		for i := range dst {
			if b[i] != 0 {
				dst[i] = 1
			} else {
				dst[i] = 0
			}
		}
	default:
		panic("ckpt: decodeInts: " + string(dt))
	}
	return true
}

// appendFloats appends the little-endian encoding of src in dtype dt (F32,
// F16 or BF16) to b.
func appendFloats(b []byte, src []float32, dt DType) []byte {
	le := binary.LittleEndian
	switch dt {
	case F32:
		for _, v := range src {
			b = le.AppendUint32(b, math.Float32bits(v))
		}
	case F16:
		for _, v := range src {
			b = le.AppendUint16(b, F32ToF16(v))
		}
	case BF16:
		for _, v := range src {
			b = le.AppendUint16(b, F32ToBF16(v))
		}
	default:
		panic("ckpt: appendFloats: " + string(dt))
	}
	return b
}
