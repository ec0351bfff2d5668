package bloom

import (
	"math"
	"strings"
	"testing"

	"bloom/npu"
	"bloom/npu/cpu"
)

// TestPackWeightsBitIdentical checks that decoding with the weights packed
// (PackWeights, on the cpu device) gives the bits of decoding without, with
// and without LoRA, with float32, fp16 and bf16 products (the packed copies
// then hold rounded weights), and that a training Step drops the packed
// copies. Where bf16 products run the VDPBF16PS kernel unpacked (a CPU with
// AVX512_BF16) the packed float32 kernel sums otherwise: there the two
// agree within float32 rounding instead.
func TestPackWeightsBitIdentical(t *testing.T) {
	for _, lora := range []LoRA{{}, tinyLoRA} {
		for _, p := range []npu.DType{npu.F32, npu.F16, npu.BF16} {
			t.Run(p.String()+"/lora="+strings.Join(lora.Targets.Names(), "+"), func(t *testing.T) { packWeightsBitIdentical(t, lora, p) })
		}
	}
}

func packWeightsBitIdentical(t *testing.T, lora LoRA, p npu.DType) {
	m := tinyModelWith(t, lora)
	if err := m.SetPrecision(p); err != nil {
		t.Fatal(err)
	}
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
	exact := p != npu.BF16 || strings.HasSuffix(cpu.GemmHalfKernel(npu.BF16), "+widen")
	for i := range want {
		if exact && math.Float32bits(got[i]) != math.Float32bits(want[i]) ||
			!exact && math.Abs(float64(got[i]-want[i])) > 1e-5*(1+math.Abs(float64(want[i]))) {
			t.Fatalf("logit %d: packed %v, unpacked %v", i, got[i], want[i])
		}
	}
	if _, _, err := m.Step(b, 1); err != nil {
		t.Fatal(err)
	}
	if m.W.wtePacked != nil || m.W.Blocks[0].FC.packed != nil {
		t.Fatal("Step kept the packed weights")
	}
}
