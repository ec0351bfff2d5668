package trainer

import (
	"math"
	"time"

	"bloom/npu"
	"bloom/trainer/bloom"
)

// Throughput is one step's figures as the seed's throughput table reports
// them: samples/s over the job, tokens/s per device, seconds per step and
// TFLOPs per device by AscendSpeed's formula (StepFLOPs, recomputation
// counted as AscendSpeed counts it), and the model FLOPs utilization
// against a device's peak (the model's FLOPs: recomputation not counted).
type Throughput struct {
	SamplesPerSec         float64 `json:"samples_per_s"`
	TokensPerSecPerDevice float64 `json:"tokens_per_s_per_device"`
	SecondsPerStep        float64 `json:"s_per_step"`
	TFLOPsPerDevice       float64 `json:"tflops_per_device"`
	MFU                   float64 `json:"mfu,omitempty"` // 0: the device's peak is unknown
}

// StepFLOPs is the floating-point operations of one optimizer step of
// batch sequences of seq tokens, as AscendSpeed counts them
// (ascendspeed/utils.py throughput_calculator; Narayanan et al. 2021, eq.
// 3): 24·f·B·s·L·h²·(1 + s/(6h) + V/(16·L·h)), f = 3 (forward and
// backward), 4 when activations are recomputed.
func StepFLOPs(c bloom.Config, batch, seq int, recompute bool) float64 {
	f := 3.0
	if recompute {
		f = 4
	}
	B, s := float64(batch), float64(seq)
	L, h, V := float64(c.Layers), float64(c.Hidden), float64(c.Vocab)
	return 24 * f * B * s * L * h * h * (1 + s/(6*h) + V/(16*L*h))
}

// StepThroughput is the figures of a step of batch sequences of seq
// tokens that took seconds on devices devices; peakTFLOPs is one device's
// peak (0: unknown, no MFU).
func StepThroughput(c bloom.Config, batch, seq, devices int, seconds float64, recompute bool, peakTFLOPs float64) Throughput {
	if seconds <= 0 || devices < 1 {
		return Throughput{}
	}
	t := Throughput{SamplesPerSec: float64(batch) / seconds, SecondsPerStep: seconds,
		TokensPerSecPerDevice: float64(batch*seq) / seconds / float64(devices),
		TFLOPsPerDevice:       StepFLOPs(c, batch, seq, recompute) / (seconds * float64(devices) * 1e12)}
	if peakTFLOPs > 0 {
		// Model FLOPs leave recomputation out (it is hardware FLOPs
		// utilization that counts it): f = 3 whatever recompute says.
		t.MFU = StepFLOPs(c, batch, seq, false) / (seconds * float64(devices) * 1e12) / peakTFLOPs
	}
	return t
}

// MeasurePeakTFLOPs is d's float32 matrix-product rate in TFLOPs: the
// best of a few 512³ products (about 0.1 s on a CPU core) — the peak MFU
// is measured against where a device's peak is not given.
func MeasurePeakTFLOPs(d npu.Device) float64 {
	const n = 512
	a, b, c := d.Alloc(n*n), d.Alloc(n*n), d.Alloc(n*n)
	d.Fill(a, 0.5)
	d.Fill(b, 0.25)
	best := math.Inf(1)
	for range 4 {
		start := time.Now()
		d.Gemm(false, false, n, n, n, 1, a, n, b, n, 0, c, n)
		d.Read(make([]float32, 1), c.Slice(0, 1)) // wait for the device
		best = min(best, time.Since(start).Seconds())
	}
	return 2 * n * n * n / best / 1e12
}
