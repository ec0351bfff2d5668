package bloom

import (
	"math"
	"strings"
	"testing"
)

// TestPackWeightsBitIdentical checks that decoding with the weights packed
// (PackWeights, on the cpu device) gives the bits of decoding without, with
// and without LoRA, and that a training Step drops the packed copies.
func TestPackWeightsBitIdentical(t *testing.T) {
	for _, lora := range []LoRA{{}, tinyLoRA} {
		t.Run("lora="+strings.Join(lora.Targets.Names(), "+"), func(t *testing.T) {
			m := tinyModelWith(t, lora)
			b := tinyBatch()
			decode := func() []float32 {
				c := m.NewCache(b.B, b.T)
				var got []float32
				for t0 := 0; t0 < b.T; t0++ {
					ids, mask := make([]int32, 0, b.B), make([]int32, 0, b.B)
					for r := 0; r < b.B; r++ {
						ids = append(ids, b.IDs[r*b.T+t0])
						mask = append(mask, b.Mask[r*b.T+t0])
					}
					out, err := m.Decode(c, ids, mask)
					if err != nil {
						t.Fatal(err)
					}
					got = make([]float32, out.Len())
					m.Dev.Read(got, out)
				}
				return got
			}
			want := decode()
			if !m.PackWeights() {
				t.Fatal("the cpu device does not pack weights")
			}
			if m.W.wtePacked == nil || m.W.Blocks[0].FC.packed == nil {
				t.Fatal("PackWeights left a weight unpacked")
			}
			got := decode()
			for i := range want {
				if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
					t.Fatalf("logit %d: packed %v, unpacked %v", i, got[i], want[i])
				}
			}
			if _, _, err := m.Step(b, 1); err != nil {
				t.Fatal(err)
			}
			if m.W.wtePacked != nil || m.W.Blocks[0].FC.packed != nil {
				t.Fatal("Step kept the packed weights")
			}
		})
	}
}
