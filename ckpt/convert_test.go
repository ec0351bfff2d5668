package ckpt

import (
	"math"
	"math/rand/v2"
	"testing"
)

// pow2 is 2^e as a float32 (exact for the exponents used here).
func pow2(e int) float32 { return float32(math.Ldexp(1, e)) }

func TestF32ToF16HandComputed(t *testing.T) {
	cases := []struct {
		name string
		in   float32
		want uint16
	}{
		{"one", 1, 0x3c00},
		{"minus two", -2, 0xc000},
		{"third", 1.0 / 3, 0x3555},
		{"zero", 0, 0x0000},
		{"minus zero", float32(math.Copysign(0, -1)), 0x8000},
		{"max finite", 65504, 0x7bff},
		{"just below overflow threshold", math.Nextafter32(65520, 0), 0x7bff},
		{"overflow threshold ties to Inf", 65520, 0x7c00},
		{"huge", 1e10, 0x7c00},
		{"minus huge", -1e10, 0xfc00},
		{"Inf", float32(math.Inf(1)), 0x7c00},
		{"-Inf", float32(math.Inf(-1)), 0xfc00},
		// 1 + 2^-11 lies halfway between 0x3c00 and 0x3c01: ties to even.
		{"tie down to even", 1 + pow2(-11), 0x3c00},
		{"tie up to even", 1 + 3*pow2(-11), 0x3c02},
		{"above tie", 1 + pow2(-11) + pow2(-20), 0x3c01},
		{"below tie", 1 + pow2(-11) - pow2(-20), 0x3c00},
		{"mantissa carry into exponent", 2 - pow2(-12), 0x4000},
		{"min normal", pow2(-14), 0x0400},
		{"max subnormal", pow2(-14) - pow2(-24), 0x03ff},
		{"min subnormal", pow2(-24), 0x0001},
		{"minus min subnormal", -pow2(-24), 0x8001},
		{"half min subnormal ties to zero", pow2(-25), 0x0000},
		{"above half min subnormal", pow2(-25) + pow2(-35), 0x0001},
		{"1.5 min subnormal ties to 2", 3 * pow2(-25), 0x0002},
		{"2.5 min subnormal ties to 2", 5 * pow2(-25), 0x0002},
		{"subnormal rounds up into normal", pow2(-14) - pow2(-25), 0x0400},
		{"tiny", 1e-10, 0x0000},
		{"minus tiny", -1e-10, 0x8000},
		{"float32 subnormal", math.Float32frombits(1), 0x0000},
	}
	for _, c := range cases {
		if got := F32ToF16(c.in); got != c.want {
			t.Errorf("%s: F32ToF16(%g) = %#04x, want %#04x", c.name, c.in, got, c.want)
		}
	}
	for _, bits := range []uint32{0x7fc00000, 0x7f800001, 0xffc00000, 0x7fbfffff} {
		h := F32ToF16(math.Float32frombits(bits))
		if h&0x7c00 != 0x7c00 || h&0x3ff == 0 {
			t.Errorf("F32ToF16(NaN %#08x) = %#04x, not a NaN", bits, h)
		}
		if h>>15 != uint16(bits>>31) {
			t.Errorf("F32ToF16(NaN %#08x) = %#04x lost the sign", bits, h)
		}
	}
}

func TestF16ToF32HandComputed(t *testing.T) {
	cases := []struct {
		in   uint16
		want float32
	}{
		{0x3c00, 1},
		{0xc000, -2},
		{0x3555, 0.333251953125},
		{0x7bff, 65504},
		{0x0400, pow2(-14)},
		{0x0001, pow2(-24)},
		{0x8001, -pow2(-24)},
		{0x03ff, 1023 * pow2(-24)},
		{0x0200, pow2(-15)},
		{0x7c00, float32(math.Inf(1))},
		{0xfc00, float32(math.Inf(-1))},
	}
	for _, c := range cases {
		if got := F16ToF32(c.in); got != c.want {
			t.Errorf("F16ToF32(%#04x) = %g, want %g", c.in, got, c.want)
		}
	}
	if got := F16ToF32(0x8000); got != 0 || !math.Signbit(float64(got)) {
		t.Errorf("F16ToF32(0x8000) = %g, want -0", got)
	}
	if got := F16ToF32(0x7e01); !math.IsNaN(float64(got)) || math.Float32bits(got) != 0x7fc02000 {
		t.Errorf("F16ToF32(0x7e01) = %#08x, want NaN 0x7fc02000 (payload kept)", math.Float32bits(got))
	}
}

// TestF16RoundTripExhaustive: every binary16 value survives F16→F32→F16.
func TestF16RoundTripExhaustive(t *testing.T) {
	for i := 0; i < 1<<16; i++ {
		h := uint16(i)
		f := F16ToF32(h)
		got := F32ToF16(f)
		if math.IsNaN(float64(f)) {
			if got&0x7c00 != 0x7c00 || got&0x3ff == 0 {
				t.Fatalf("NaN %#04x came back as %#04x", h, got)
			}
			continue
		}
		if got != h {
			t.Fatalf("%#04x -> %g -> %#04x", h, f, got)
		}
	}
}

// f16Value is the value of non-negative binary16 bits h ≤ 0x7c00, with 0x7c00
// read as 2^16: the value IEEE rounding treats Inf as when deciding overflow.
func f16Value(h uint16) float64 {
	if h == 0x7c00 {
		return 65536
	}
	return float64(F16ToF32(h))
}

// TestF32ToF16Nearest checks random float32 values against the definition of
// round-to-nearest-even: no other binary16 value is closer, and a tie picks
// the even one.
func TestF32ToF16Nearest(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 200000; i++ {
		// Exponents around the binary16 range, where rounding is interesting.
		bits := uint32(r.IntN(60)+90)<<23 | r.Uint32()&0x7fffff
		x := math.Float32frombits(bits)
		h := F32ToF16(x)
		if h > 0x7c00 {
			t.Fatalf("F32ToF16(%g) = %#04x, beyond Inf", x, h)
		}
		d := math.Abs(float64(x) - f16Value(h))
		for _, n := range []uint16{h - 1, h + 1} {
			if h == 0 && n == h-1 || n > 0x7c00 {
				continue
			}
			dn := math.Abs(float64(x) - f16Value(n))
			if dn < d || dn == d && h&1 == 1 {
				t.Fatalf("F32ToF16(%g) = %#04x, but %#04x is nearer or even", x, h, n)
			}
		}
	}
}

func TestF32ToBF16HandComputed(t *testing.T) {
	cases := []struct {
		in   uint32 // float32 bits
		want uint16
	}{
		{0x3f800000, 0x3f80}, // 1
		{0xc0000000, 0xc000}, // -2
		{0x3f808000, 0x3f80}, // tie, down to even
		{0x3f818000, 0x3f82}, // tie, up to even
		{0x3f808001, 0x3f81}, // above tie
		{0x3f807fff, 0x3f80}, // below tie
		{0x3fff8000, 0x4000}, // carry into exponent
		{0x7f7fffff, 0x7f80}, // max float32 overflows to Inf
		{0x7f7f7fff, 0x7f7f}, // stays finite
		{0xff7fffff, 0xff80}, // to -Inf
		{0x7f800000, 0x7f80}, // Inf
		{0x00008000, 0x0000}, // subnormal tie to even (zero)
		{0x00018000, 0x0002}, // subnormal tie to even
		{0x00010000, 0x0001}, // exact subnormal
		{0x80000000, 0x8000}, // -0
	}
	for _, c := range cases {
		if got := F32ToBF16(math.Float32frombits(c.in)); got != c.want {
			t.Errorf("F32ToBF16(%#08x) = %#04x, want %#04x", c.in, got, c.want)
		}
	}
	for _, bits := range []uint32{0x7f800001, 0x7fc00000, 0xff800001} {
		b := F32ToBF16(math.Float32frombits(bits))
		if b&0x7f80 != 0x7f80 || b&0x7f == 0 || b>>15 != uint16(bits>>31) {
			t.Errorf("F32ToBF16(NaN %#08x) = %#04x, not a NaN of the same sign", bits, b)
		}
	}
	for i := 0; i < 1<<16; i++ {
		b := uint16(i)
		f := BF16ToF32(b)
		if math.Float32bits(f) != uint32(b)<<16 {
			t.Fatalf("BF16ToF32(%#04x) = %#08x", b, math.Float32bits(f))
		}
		if !math.IsNaN(float64(f)) && F32ToBF16(f) != b {
			t.Fatalf("BF16 %#04x does not round-trip", b)
		}
	}
}

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

// TestDecodeF16Table: the lookup table used for reading matches F16ToF32 on
// every bit pattern, NaN payloads included.
func TestDecodeF16Table(t *testing.T) {
	src := make([]byte, 2<<16)
	for i := 0; i < 1<<16; i++ {
		src[2*i], src[2*i+1] = byte(i), byte(i>>8)
	}
	dst := make([]float32, 1<<16)
	decodeFloats(dst, src, F16)
	for i, v := range dst {
		if math.Float32bits(v) != math.Float32bits(F16ToF32(uint16(i))) {
			t.Fatalf("%#04x: table %#08x", i, math.Float32bits(v))
		}
	}
}
