package half

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
		{"tenth", 0.1, 0x2e66},
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
	for _, c := range []struct {
		in   uint16
		want uint32
	}{
		{0x7e01, 0x7fc02000}, // quiet: payload kept
		{0x7c01, 0x7fc02000}, // signalling: quietened, payload kept
		{0xfdff, 0xffffe000}, // signalling, negative
	} {
		if got := math.Float32bits(F16ToF32(c.in)); got != c.want {
			t.Errorf("F16ToF32(%#04x) = %#08x, want NaN %#08x", c.in, got, c.want)
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
	if got := F32ToBF16(1 + 1.0/256); got != 0x3f80 { // tie: to even
		t.Errorf("F32ToBF16 tie: %#x", got)
	}
	if got := F32ToBF16(1 + 3.0/256); got != 0x3f82 {
		t.Errorf("F32ToBF16 tie up: %#x", got)
	}
	for _, bits := range []uint32{0x7f800001, 0x7fc00000, 0xff800001, 0x7fffffff} {
		b := F32ToBF16(math.Float32frombits(bits))
		if b&0x7f80 != 0x7f80 || b&0x7f == 0 || b>>15 != uint16(bits>>31) {
			t.Errorf("F32ToBF16(NaN %#08x) = %#04x, not a NaN of the same sign", bits, b)
		}
	}
}

// TestRoundTripExhaustive: every one of the 65,536 bit patterns of each
// format widens and narrows back to itself; a NaN comes back as the same
// NaN made quiet (fp16 bit 9, bf16 bit 6 set).
func TestRoundTripExhaustive(t *testing.T) {
	for i := range 1 << 16 {
		h := uint16(i)
		f := F16ToF32(h)
		want := h
		if h&0x7c00 == 0x7c00 && h&0x3ff != 0 {
			want |= 0x200
			if !isNaN(f) {
				t.Fatalf("F16ToF32(%#04x) = %g, want NaN", h, f)
			}
		}
		if got := F32ToF16(f); got != want {
			t.Fatalf("fp16 %#04x -> %#08x -> %#04x, want %#04x", h, math.Float32bits(f), got, want)
		}

		b := BF16ToF32(h)
		if math.Float32bits(b) != uint32(h)<<16 {
			t.Fatalf("BF16ToF32(%#04x) = %#08x", h, math.Float32bits(b))
		}
		want = h
		if h&0x7f80 == 0x7f80 && h&0x7f != 0 {
			want |= 0x40
		}
		if got := F32ToBF16(b); got != want {
			t.Fatalf("bf16 %#04x -> %#08x -> %#04x, want %#04x", h, math.Float32bits(b), got, want)
		}
	}
}

func isNaN(f float32) bool { return f != f }

// format describes a half format for the nearest-value check: its
// conversions, the bits of +Inf, and the value +Inf stands for when deciding
// overflow (the next power of two past the largest finite value: IEEE
// rounding overflows exactly when that would be the nearest).
type format struct {
	name    string
	narrow  func(float32) uint16
	widen   func(uint16) float32
	inf     uint16
	infAs   float64
	quiet   uint16 // the quiet bit of a NaN
	payload func(uint32) uint16
}

var formats = []format{
	{"fp16", F32ToF16, F16ToF32, 0x7c00, 65536, 0x200, func(b uint32) uint16 { return uint16(b>>13) & 0x3ff }},
	{"bf16", F32ToBF16, BF16ToF32, 0x7f80, math.Ldexp(1, 128), 0x40, func(b uint32) uint16 { return uint16(b>>16) & 0x7f }},
}

// value is the magnitude of non-negative bits m ≤ inf in float64.
func (f format) value(m uint16) float64 {
	if m == f.inf {
		return f.infAs
	}
	return float64(f.widen(m))
}

// check tests f.narrow(x) against the definition, independently of how the
// conversion computes it: the sign is x's; for a NaN the result is a quiet
// NaN carrying the top of the payload; for ±Inf it is ±Inf; otherwise no
// other magnitude (the neighbours below and above, decoded exactly into
// float64) is nearer to |x|, and at a tie the result is the even one.
func (f format) check(t *testing.T, x float32) {
	t.Helper()
	bits := math.Float32bits(x)
	h := f.narrow(x)
	if h>>15 != uint16(bits>>31) {
		t.Fatalf("%s(%#08x) = %#04x: sign lost", f.name, bits, h)
	}
	m := h & 0x7fff
	if isNaN(x) {
		if want := f.inf | f.quiet | f.payload(bits); m != want {
			t.Fatalf("%s(NaN %#08x) = %#04x, want magnitude %#04x", f.name, bits, h, want)
		}
		return
	}
	if m > f.inf {
		t.Fatalf("%s(%#08x) = %#04x, a NaN", f.name, bits, h)
	}
	ax := math.Abs(float64(x))
	if math.IsInf(float64(x), 0) {
		if m != f.inf {
			t.Fatalf("%s(%g) = %#04x, want Inf", f.name, x, h)
		}
		return
	}
	d := math.Abs(ax - f.value(m))
	for _, n := range []uint16{m - 1, m + 1} {
		if m == 0 && n == m-1 || n > f.inf {
			continue
		}
		dn := math.Abs(ax - f.value(n))
		if dn < d || dn == d && m&1 == 1 {
			t.Fatalf("%s(%g = %#08x) = %#04x, but %#04x is nearer or even", f.name, x, bits, h, n)
		}
	}
}

// edges lists, for a format, the float32 inputs where rounding turns: every
// non-negative finite value and Inf, the midpoint from each to the next,
// each of these' float32 neighbours, with both signs; and the format's own
// special cases.
func (f format) edges() []float32 {
	var out []float32
	add := func(v float32) {
		for _, w := range []float32{v, math.Nextafter32(v, float32(math.Inf(-1))), math.Nextafter32(v, float32(math.Inf(1)))} {
			out = append(out, w, -w)
		}
	}
	for m := uint16(0); m <= f.inf; m++ {
		add(f.widen(m))
		if m < f.inf {
			mid := (f.value(m) + f.value(m+1)) / 2
			if mid <= math.MaxFloat32 {
				add(float32(mid)) // exact: one bit more than the format
			}
		}
	}
	for _, b := range []uint32{
		0, 1, 0x007fffff, 0x00800000, // float32 zero, subnormals, min normal
		0x7f7fffff, 0x7f800000, // max float32, Inf
		0x7f800001, 0x7f801fff, 0x7f802000, 0x7fbfffff, 0x7fc00000, 0x7fc00001, 0x7fffe000, 0x7fffffff, // NaN payloads
	} {
		out = append(out, math.Float32frombits(b), math.Float32frombits(b|1<<31))
	}
	return out
}

func TestNarrowNearestEven(t *testing.T) {
	for _, f := range formats {
		t.Run(f.name, func(t *testing.T) {
			for _, x := range f.edges() {
				f.check(t, x)
			}
			r := rand.New(rand.NewPCG(1, 2))
			n := 2_000_000
			if testing.Short() {
				n = 200_000
			}
			for i := 0; i < n; i++ {
				f.check(t, math.Float32frombits(r.Uint32())) // anywhere, NaNs included
				// Exponents around the fp16 range, where its rounding is interesting.
				f.check(t, math.Float32frombits(uint32(r.IntN(60)+90)<<23|r.Uint32()&0x807fffff))
			}
		})
	}
}
