package collective

import (
	"math"
	"math/rand/v2"
	"testing"

	"bloom/internal/half"
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

// TestWidenNarrow: the 16-bit reductions' conversions over raw buffers are
// internal/half's (whose own tests check the formats exhaustively): every
// 16-bit pattern widened, and values around the rounding edges narrowed,
// at a length that leaves a tail past the vector blocks.
func TestWidenNarrow(t *testing.T) {
	n := 1<<16 + 3
	src := make([]uint16, n)
	for i := range src {
		src[i] = uint16(i)
	}
	wide := make([]float32, n)
	r := rand.New(rand.NewPCG(3, 4))
	for _, c := range []struct {
		dt     DataType
		widen  func(uint16) float32
		narrow func(float32) uint16
	}{{Float16, half.F16ToF32, half.F32ToF16}, {BFloat16, half.BF16ToF32, half.F32ToBF16}} {
		widen(c.dt, bytesOf(wide), bytesOf(src))
		for i, h := range src {
			if math.Float32bits(wide[i]) != math.Float32bits(c.widen(h)) {
				t.Fatalf("%v: widen %#04x = %#08x", c.dt, h, math.Float32bits(wide[i]))
			}
		}
		for i := range wide { // nudge some values off the representable ones, and past the top
			wide[i] = math.Float32frombits(math.Float32bits(wide[i]) + uint32(r.IntN(1<<14)))
		}
		out := make([]uint16, n)
		narrow(c.dt, bytesOf(out), bytesOf(wide))
		for i, v := range wide {
			if out[i] != c.narrow(v) {
				t.Fatalf("%v: narrow %#08x = %#04x, want %#04x", c.dt, math.Float32bits(v), out[i], c.narrow(v))
			}
		}
	}
	if got := half.F32ToF16(65520); got != 0x7c00 { // the collective's contract: overflow to Inf
		t.Errorf("F32ToF16(65520) = %#x, want Inf", got)
	}
}
