package collective

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestSumF32 checks the assembly kernel against the Go loop, bit for bit,
// in place and out of place, at lengths around the 16-float blocks.
func TestSumF32(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, n := range []int{0, 1, 15, 16, 17, 31, 33, 1000, 4099} {
		a, b := make([]float32, n), make([]float32, n)
		for i := range a {
			a[i], b[i] = float32(r.NormFloat64()*1e3), float32(r.NormFloat64())
		}
		want, got := make([]float32, n), make([]float32, n)
		sumF32Go(want, a, b)
		sumF32(got, a, b)
		inPlace := append([]float32(nil), a...)
		sumF32(inPlace, inPlace, b)
		for i := range want {
			if math.Float32bits(got[i]) != math.Float32bits(want[i]) || math.Float32bits(inPlace[i]) != math.Float32bits(want[i]) {
				t.Fatalf("n=%d element %d: %v / %v, want %v", n, i, got[i], inPlace[i], want[i])
			}
		}
	}
}

// TestHalfConversions: every float16 widens and narrows back to itself;
// rounding is to nearest even, with overflow to infinity.
func TestHalfConversions(t *testing.T) {
	for h := 0; h < 1<<16; h++ {
		f := F16ToF32(uint16(h))
		if f != f {
			if back := F32ToF16(f); back&0x7c00 != 0x7c00 || back&0x3ff == 0 {
				t.Fatalf("NaN %#x came back as %#x", h, back)
			}
			continue
		}
		if back := F32ToF16(f); back != uint16(h) {
			t.Fatalf("fp16 %#x -> %v -> %#x", h, f, back)
		}
		if back := F32ToBF16(BF16ToF32(uint16(h))); BF16ToF32(uint16(h)) == BF16ToF32(uint16(h)) && back != uint16(h) {
			t.Fatalf("bf16 %#x -> %#x", h, back)
		}
	}
	cases := []struct {
		f    float32
		want uint16
	}{
		{1 + 1.0/2048, 0x3c00},           // tie: to even (1.0)
		{1 + 3.0/2048, 0x3c02},           // tie: to even (1 + 2/1024)
		{65504, 0x7bff},                  // max
		{65520, 0x7c00},                  // rounds to inf
		{float32(math.Ldexp(1, -24)), 1}, // smallest subnormal
		{float32(math.Ldexp(1, -25)), 0}, // tie to even: 0
		{-2, 0xc000},
	}
	for _, c := range cases {
		if got := F32ToF16(c.f); got != c.want {
			t.Errorf("F32ToF16(%v) = %#x, want %#x", c.f, got, c.want)
		}
	}
	if got := F32ToBF16(1 + 1.0/256); got != 0x3f80 { // tie: to even
		t.Errorf("F32ToBF16 tie: %#x", got)
	}
	if got := F32ToBF16(1 + 3.0/256); got != 0x3f82 {
		t.Errorf("F32ToBF16 tie up: %#x", got)
	}
}
