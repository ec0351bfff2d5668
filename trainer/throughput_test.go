package trainer

import (
	"math"
	"testing"

	"bloom/trainer/bloom"
)

// TestSeedThroughputRow: the seed README's Bloom-7B NPU row (9.779
// samples/s, 2503 tokens/s per device, 19.63 s/step, 109.85 TFLOPs) comes
// out of AscendSpeed's formula from its own numbers: the batch of the
// ramp-up's start (192), 2048 tokens, 8 devices.
func TestSeedThroughputRow(t *testing.T) {
	c, err := bloom.Preset("bloom-7b1")
	if err != nil {
		t.Fatal(err)
	}
	got := StepThroughput(c, 192, 2048, 8, 19.63, false, 256)
	for _, x := range []struct {
		name      string
		got, want float64
		tol       float64
	}{
		{"samples/s", got.SamplesPerSec, 9.779, 0.005},
		{"tokens/s/device", got.TokensPerSecPerDevice, 2503, 1},
		{"TFLOPs/device", got.TFLOPsPerDevice, 109.85, 0.05},
		{"MFU vs Ascend 910's 256 TFLOPs", got.MFU, 109.85 / 256, 0.001},
	} {
		if math.Abs(x.got-x.want) > x.tol {
			t.Errorf("%s: %.4f, the seed's row says %.4f", x.name, x.got, x.want)
		}
	}
	if r := StepFLOPs(c, 1, 2048, true) / StepFLOPs(c, 1, 2048, false); math.Abs(r-4.0/3) > 1e-12 {
		t.Errorf("recomputation counts %v× the FLOPs, want 4/3", r)
	}
	// With recomputation the TFLOPs count it (AscendSpeed's figure), the
	// MFU does not (model FLOPs; counting it is hardware FLOPs
	// utilization): the same step, 4/3 the TFLOPs, the same MFU.
	rc := StepThroughput(c, 192, 2048, 8, 19.63, true, 256)
	if math.Abs(rc.TFLOPsPerDevice/got.TFLOPsPerDevice-4.0/3) > 1e-9 || math.Abs(rc.MFU-got.MFU) > 1e-12 {
		t.Errorf("with recomputation: %.4f TFLOPs, MFU %.4f; without %.4f, %.4f", rc.TFLOPsPerDevice, rc.MFU, got.TFLOPsPerDevice, got.MFU)
	}
}
