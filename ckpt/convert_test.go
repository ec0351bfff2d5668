package ckpt

import (
	"math"
	"math/rand/v2"
	"testing"

	"bloom/internal/half"
)

// pow2 is 2^e as a float32 (exact for the exponents used here).
func pow2(e int) float32 { return float32(math.Ldexp(1, e)) }

func TestF8Decode(t *testing.T) {
	cases := []struct {
		dt   DType
		in   byte
		want float32
	}{
		{F8E4M3, 0x38, 1},
		{F8E4M3, 0xb8, -1},
		{F8E4M3, 0x7e, 448},
		{F8E4M3, 0x01, pow2(-9)},
		{F8E4M3, 0x08, pow2(-6)},
		{F8E4M3, 0x00, 0},
		{F8E5M2, 0x3c, 1},
		{F8E5M2, 0x7b, 57344},
		{F8E5M2, 0x01, pow2(-16)},
		{F8E5M2, 0x7c, float32(math.Inf(1))},
	}
	for _, c := range cases {
		out := make([]float32, 1)
		decodeFloats(out, []byte{c.in}, c.dt)
		if out[0] != c.want {
			t.Errorf("%s %#02x = %g, want %g", c.dt, c.in, out[0], c.want)
		}
	}
	for _, c := range []struct {
		dt DType
		in byte
	}{{F8E4M3, 0x7f}, {F8E4M3, 0xff}, {F8E5M2, 0x7d}} {
		out := make([]float32, 1)
		decodeFloats(out, []byte{c.in}, c.dt)
		if !math.IsNaN(float64(out[0])) {
			t.Errorf("%s %#02x = %g, want NaN", c.dt, c.in, out[0])
		}
	}
}

func BenchmarkF16ToF32(b *testing.B) {
	src := make([]byte, 2<<20)
	for i := range src {
		src[i] = byte(i * 7)
	}
	dst := make([]float32, len(src)/2)
	b.SetBytes(int64(len(src)))
	for b.Loop() {
		decodeFloats(dst, src, F16)
	}
}

// TestDecodeF16Table: reading F16 and BF16 (a chunk at a time through
// internal/half) matches the scalar conversion on every bit pattern, NaN
// payloads included.
func TestDecodeF16Table(t *testing.T) {
	src := make([]byte, 2<<16)
	for i := 0; i < 1<<16; i++ {
		src[2*i], src[2*i+1] = byte(i), byte(i>>8)
	}
	dst := make([]float32, 1<<16)
	decodeFloats(dst, src, F16)
	for i, v := range dst {
		if math.Float32bits(v) != math.Float32bits(half.F16ToF32(uint16(i))) {
			t.Fatalf("%#04x: table %#08x", i, math.Float32bits(v))
		}
	}
	decodeFloats(dst, src, BF16)
	for i, v := range dst {
		if math.Float32bits(v) != uint32(i)<<16 {
			t.Fatalf("bf16 %#04x: %#08x", i, math.Float32bits(v))
		}
	}
}

// TestAppendHalves: writing F16 and BF16 (a chunk at a time through
// internal/half) gives the scalar rounding of each value, little-endian, at
// lengths around the chunk.
func TestAppendHalves(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, n := range []int{0, 1, 17, halfChunk - 1, halfChunk, halfChunk + 1, 3*halfChunk + 5} {
		src := make([]float32, n)
		for i := range src {
			src[i] = math.Float32frombits(r.Uint32())
		}
		for _, c := range []struct {
			dt     DType
			narrow func(float32) uint16
		}{{F16, half.F32ToF16}, {BF16, half.F32ToBF16}} {
			b := appendFloats([]byte{9}, src, c.dt)
			if len(b) != 1+2*n || b[0] != 9 {
				t.Fatalf("%s n=%d: %d bytes", c.dt, n, len(b))
			}
			for i, v := range src {
				if got := uint16(b[1+2*i]) | uint16(b[2+2*i])<<8; got != c.narrow(v) {
					t.Fatalf("%s n=%d [%d] %#08x: %#04x, want %#04x", c.dt, n, i, math.Float32bits(v), got, c.narrow(v))
				}
			}
		}
	}
}
