package bloom

import (
	"math"
	"testing"

	"bloom/ckpt"
	"bloom/collective"
)

// TestHalfConversionsAgree: ckpt and collective each carry their own
// float16 and bfloat16 conversions, since neither may import the other nor
// anything of ours (DESIGN.md §3). A checkpoint written in F16 and a
// gradient reduced in FP16 must round alike, so the two agree bit for bit:
// every 16-bit value widened; narrowed, every float32 on a stride through
// all 2^32 bit patterns and, around every 16-bit value, the patterns where
// rounding turns (the value, its neighbours, the midpoints to the next
// value up and their neighbours).
func TestHalfConversionsAgree(t *testing.T) {
	for h := range 1 << 16 {
		if a, b := math.Float32bits(ckpt.F16ToF32(uint16(h))), math.Float32bits(collective.F16ToF32(uint16(h))); a != b {
			t.Fatalf("F16ToF32(%#04x): ckpt %#08x, collective %#08x", h, a, b)
		}
		if a, b := math.Float32bits(ckpt.BF16ToF32(uint16(h))), math.Float32bits(collective.BF16ToF32(uint16(h))); a != b {
			t.Fatalf("BF16ToF32(%#04x): ckpt %#08x, collective %#08x", h, a, b)
		}
	}
	narrow := func(bits uint32) {
		f := math.Float32frombits(bits)
		if a, b := ckpt.F32ToF16(f), collective.F32ToF16(f); a != b {
			t.Fatalf("F32ToF16(%#08x): ckpt %#04x, collective %#04x", bits, a, b)
		}
		if a, b := ckpt.F32ToBF16(f), collective.F32ToBF16(f); a != b {
			t.Fatalf("F32ToBF16(%#08x): ckpt %#04x, collective %#04x", bits, a, b)
		}
	}
	stride := uint64(97)
	if testing.Short() {
		stride = 9973
	}
	for bits := uint64(0); bits < 1<<32; bits += stride {
		narrow(uint32(bits))
	}
	for h := range 1 << 16 {
		for _, v := range []uint32{
			math.Float32bits(ckpt.F16ToF32(uint16(h))), math.Float32bits(ckpt.BF16ToF32(uint16(h))),
			math.Float32bits(ckpt.F16ToF32(uint16(h))) + 1<<12, uint32(h)<<16 + 1<<15, // the midpoints up
		} {
			for d := uint32(0); d < 3; d++ {
				narrow(v + d - 1)
			}
		}
	}
}
