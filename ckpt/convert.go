package ckpt

import (
	"encoding/binary"
	"math"
	"unsafe"

	"bloom/internal/half"
)

// The narrow float formats: float16 and bfloat16 convert through
// internal/half, the one definition of them (widening is exact; narrowing
// rounds to nearest, ties to even), a chunk at a time so its vector kernels
// run; F8_E5M2 is the top byte of a float16.

// halfChunk is how many elements decodeHalves and appendHalves convert per
// call to internal/half (4 KiB of 16-bit values, on the stack).
const halfChunk = 2048

// hostLE reports whether this machine stores integers little-endian, as
// safetensors does: then a chunk of 16-bit values moves as its bytes.
var hostLE = binary.NativeEndian.Uint16([]byte{1, 0}) == 1

// halfBytes is the memory of h as bytes (h stays the owner).
func halfBytes(h []uint16) []byte {
	return unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(h))), 2*len(h))
}

// decodeHalves widens the little-endian 16-bit values in b (2·len(dst)
// bytes) with widen, a chunk at a time.
func decodeHalves(dst []float32, b []byte, widen func([]float32, []uint16)) {
	var h [halfChunk]uint16
	b = b[:2*len(dst)]
	for len(dst) > 0 {
		n := min(len(dst), halfChunk)
		if hostLE {
			copy(halfBytes(h[:n]), b)
		} else {
			for i := range h[:n] {
				h[i] = binary.LittleEndian.Uint16(b[2*i:])
			}
		}
		widen(dst[:n], h[:n])
		dst, b = dst[n:], b[2*n:]
	}
}

// appendHalves appends src rounded by narrow, little-endian, to b.
func appendHalves(b []byte, src []float32, narrow func([]uint16, []float32)) []byte {
	var h [halfChunk]uint16
	for len(src) > 0 {
		n := min(len(src), halfChunk)
		narrow(h[:n], src[:n])
		if hostLE {
			b = append(b, halfBytes(h[:n])...)
		} else {
			for _, v := range h[:n] {
				b = binary.LittleEndian.AppendUint16(b, v)
			}
		}
		src = src[n:]
	}
	return b
}

// f8e5m2Table maps every F8_E5M2 byte, the top byte of a float16, to its
// float32 value.
var f8e5m2Table = func() (t [256]float32) {
	for i := range t {
		t[i] = half.F16ToF32(uint16(i) << 8)
	}
	return t
}()

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
		decodeHalves(dst, b, half.FromF16)
	case BF16:
		decodeHalves(dst, b, half.FromBF16)
	case F64:
		for i := range dst {
			dst[i] = float32(math.Float64frombits(le.Uint64(b[8*i:])))
		}
	case F8E5M2:
		for i := range dst {
			dst[i] = f8e5m2Table[b[i]]
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
		b = appendHalves(b, src, half.ToF16)
	case BF16:
		b = appendHalves(b, src, half.ToBF16)
	default:
		panic("ckpt: appendFloats: " + string(dt))
	}
	return b
}
