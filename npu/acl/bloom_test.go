//go:build ascend && cgo

package acl

import (
	"context"
	"math"
	"path/filepath"
	"testing"

	"bloom/ckpt"
	"bloom/npu"
	"bloom/npu/acl/fakeacl"
	"bloom/npu/cpu"
	"bloom/trainer"
	"bloom/trainer/bloom"
	"bloom/trainer/data"
)

// TestBloomOnFake trains a small BLOOM on the fake as a 910B and as a 910
// (TestBloomTraining in a child per SoC) and checks the golden cases on a
// 910B (TestBloomGolden).
func TestBloomOnFake(t *testing.T) {
	for _, soc := range []string{fakeacl.Ascend910B1, fakeacl.Ascend910A} {
		t.Run("training "+soc, func(t *testing.T) { child(t, "TestBloomTraining", fakeacl.Options{SoC: soc}) })
		t.Run("fp16 overflow "+soc, func(t *testing.T) { child(t, "TestBloomFP16Overflow", fakeacl.Options{SoC: soc}) })
	}
	t.Run("golden", func(t *testing.T) { child(t, "TestBloomGolden", fakeacl.Options{SoC: fakeacl.Ascend910B1}) })
}

// runTiny trains a small BLOOM on d for steps steps (tune, when not nil,
// adjusts the run) and returns each step's figures and the model.
func runTiny(t *testing.T, d npu.Device, steps int, tune func(*trainer.RankConfig)) ([]trainer.StepStats, *bloom.Model) {
	t.Helper()
	m, err := bloom.New(d, bloom.Config{Vocab: 264, Hidden: 32, Heads: 4, Layers: 2, Eps: 1e-5})
	if err != nil {
		t.Fatal(err)
	}
	m.InitRandom(3, 0.02)
	cfg := trainer.DefaultRankConfig()
	cfg.MicroBatch, cfg.GlobalBatch, cfg.SeqLength, cfg.Steps = 2, 4, 16, steps
	cfg.LR = trainer.Schedule{MaxLR: 3e-3, MinLR: 3e-3, Style: "constant"}
	if tune != nil {
		tune(&cfg)
	}
	src, err := data.NewByteCorpus(data.DemoText(), cfg.SeqLength, 1)
	if err != nil {
		t.Fatal(err)
	}
	var stats []trainer.StepStats
	loop := trainer.Local{Cfg: cfg, Model: m, Data: src}
	if err := loop.Run(context.Background(), func(s trainer.StepStats) { stats = append(stats, s) }); err != nil {
		t.Fatal(err)
	}
	return stats, m
}

// trainTiny runs 4 steps of a small BLOOM on d and returns the losses and
// the final parameters.
func trainTiny(t *testing.T, d npu.Device) ([]float64, []float32) {
	t.Helper()
	stats, m := runTiny(t, d, 4, nil)
	var losses []float64
	for _, s := range stats {
		losses = append(losses, s.Loss)
	}
	params := make([]float32, m.Layout.Size)
	d.Read(params, m.Params)
	return losses, params
}

// TestBloomTraining: four training steps (forward, vocab cross-entropy,
// backward, clipping, AdamW) on the NPU give the CPU device's losses and
// weights, within what the SoC's precision allows. A 910B computes in
// float32 with other summation orders (~1e-7 relative). A 910's cube
// multiplies float32 in fp16 (unit roundoff 2⁻¹¹): the loss moves by
// ~1e-6 here, but AdamW moves every weight by about lr a step whatever its
// gradient, so a weight whose gradient is near zero can go the other way:
// up to 2·lr·steps (0.024) on a few, the bulk (rms) far less.
func TestBloomTraining(t *testing.T) {
	if !inChild(t) {
		t.Skip("runs in a child per SoC: see TestBloomOnFake")
	}
	d := open(t)
	wantL, wantP := trainTiny(t, cpu.New(1))
	gotL, gotP := trainTiny(t, d)
	lossTol, maxTol, rmsTol := 1e-5, 2e-4, 2e-5
	if d.is910 {
		lossTol, maxTol, rmsTol = 1e-4, 0.024, 1e-3
	}
	worst := 0.0
	for i := range wantL {
		r := math.Abs(gotL[i]-wantL[i]) / wantL[i]
		worst = max(worst, r)
		if r > lossTol {
			t.Errorf("%s step %d: loss %.7f, the CPU's %.7f", d.SoC(), i+1, gotL[i], wantL[i])
		}
	}
	pw, ss := 0.0, 0.0
	for i := range wantP {
		e := math.Abs(float64(gotP[i] - wantP[i]))
		pw, ss = max(pw, e), ss+e*e
	}
	rms := math.Sqrt(ss / float64(len(wantP)))
	if pw > maxTol || rms > rmsTol {
		t.Errorf("%s: parameters differ from the CPU's by up to %.2e, rms %.2e", d.SoC(), pw, rms)
	}
	t.Logf("%s: worst relative loss difference %.1e; parameters up to %.1e, rms %.1e", d.SoC(), worst, pw, rms)
}

// TestBloomFP16Overflow: under --fp16 with a loss scale of 2^24 the scaled
// gradients overflow fp16 for the first steps; the NPU skips the same steps
// as the CPU device, halving the scale the same way — on a 910B, where the
// overflow shows as Inf in the norm, and on a 910, whose saturation mode
// keeps the gradients finite and raises the overflow flag the trainer asks
// (npu.OverflowFlagger) instead.
func TestBloomFP16Overflow(t *testing.T) {
	if !inChild(t) {
		t.Skip("runs in a child per SoC: see TestBloomOnFake")
	}
	d := open(t)
	run := func(dev npu.Device) []trainer.StepStats {
		stats, _ := runTiny(t, dev, 8, func(cfg *trainer.RankConfig) {
			cfg.Precision = npu.F16
			cfg.LossScale = trainer.LossScaleConfig{InitialScalePower: 24, Window: 100, Hysteresis: 1, MinScale: 1}
		})
		return stats
	}
	want, got := run(cpu.New(1)), run(d)
	skips := 0
	for i := range want {
		if got[i].Skipped != want[i].Skipped || got[i].LossScale != want[i].LossScale {
			t.Errorf("%s step %d: skipped %v at scale %g; the CPU: %v at %g", d.SoC(), i+1, got[i].Skipped, got[i].LossScale, want[i].Skipped, want[i].LossScale)
		}
		if want[i].Skipped {
			skips++
		}
	}
	if skips == 0 || skips == len(want) {
		t.Fatalf("the CPU skipped %d of %d steps: the run does not exercise the scaler", skips, len(want))
	}
	t.Logf("%s: %d of %d steps skipped, as on the CPU", d.SoC(), skips, len(want))
}

// TestBloomGolden: the golden cases' logits, loss and gradients (PyTorch's
// Hugging Face BLOOM, trainer/testdata/golden) on the NPU, within the
// tolerances trainer's golden tests hold the CPU device to.
func TestBloomGolden(t *testing.T) {
	if !inChild(t) {
		t.Skip("runs in a child: see TestBloomOnFake")
	}
	d := open(t)
	for _, name := range []string{"h4", "h6", "h4f16"} {
		dir := filepath.Join("..", "..", "trainer", "testdata", "golden", name)
		m, _, err := trainer.LoadHF(d, dir)
		if err != nil {
			t.Fatal(err)
		}
		f, err := ckpt.OpenSafetensors(filepath.Join(dir, "golden.safetensors"))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		floats := func(n string) []float32 {
			v, _, err := f.Float32(n)
			if err != nil {
				t.Fatal(err)
			}
			return v
		}
		ints := func(n string) ([]int32, []int) {
			v, shape, err := f.Int64(n)
			if err != nil {
				t.Fatal(err)
			}
			out := make([]int32, len(v))
			for i, x := range v {
				out[i] = int32(x)
			}
			return out, shape
		}
		ids, shape := ints("input_ids")
		mask, _ := ints("attention_mask")
		labels, _ := ints("labels")
		B, T := shape[0], shape[1]
		targets := make([]int32, B*T)
		for i := range targets {
			targets[i] = npu.IgnoreIndex
			if i%T+1 < T {
				targets[i] = labels[i+1]
			}
		}
		b := bloom.Batch{B: B, T: T, IDs: ids, Mask: mask, Targets: targets}
		logits, err := m.Forward(b)
		if err != nil {
			t.Fatal(err)
		}
		got, want := make([]float32, logits.Len()), floats("logits")
		d.Read(got, logits)
		V, worst := m.Cfg.Vocab, 0.0
		for i := range B * T {
			if mask[i] == 0 {
				continue // padded query rows: HF's values there are arbitrary
			}
			for v := range V {
				w, g := float64(want[i*V+v]), float64(got[i*V+v])
				worst = max(worst, math.Abs(w-g))
				if math.Abs(w-g) > 1e-4*(1+math.Abs(w)) {
					t.Fatalf("%s: logits[%d,%d] %g, PyTorch %g", name, i, v, g, w)
				}
			}
		}
		m.ZeroGrads()
		loss, _, err := m.Step(b, 1)
		if err != nil {
			t.Fatal(err)
		}
		if w := float64(floats("loss")[0]); math.Abs(loss-w) > 1e-4*w {
			t.Errorf("%s: loss %v, PyTorch %v", name, loss, w)
		}
		grads := make([]float32, m.Layout.Size)
		d.Read(grads, m.Grads)
		gworst := 0.0
		for _, tn := range m.Layout.Tensors {
			want, scale := floats("grad."+tn.Name), 0.0
			for _, w := range want {
				scale = max(scale, math.Abs(float64(w)))
			}
			for i, w := range want {
				e := math.Abs(float64(grads[tn.Offset+i]-w)) / scale
				gworst = max(gworst, e)
				if e > 1e-4 {
					t.Fatalf("%s: grad %s[%d] %g, PyTorch %g", name, tn.Name, i, grads[tn.Offset+i], w)
				}
			}
		}
		t.Logf("%s on %s: max |Δlogit| %.1e, gradients within %.1e of their scale", name, d.SoC(), worst, gworst)
	}
}
