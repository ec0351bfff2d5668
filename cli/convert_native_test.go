package cli

import (
	"encoding/json"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"bloom/ckpt"
	"bloom/ckpt/deepspeed"
	"bloom/trainer"
)

// universalFixture is scripts/universal/gen_universal.py's checkpoint.
const universalFixture = "../ckpt/deepspeed/testdata/universal"

// TestConvertUniversalToNative: the universal checkpoint converts into a
// native one for TP=2, PP=2 whose weights and Adam moments, joined back,
// equal the universal's bit for bit (the embedding re-padded with zero
// rows), with iteration 30, 240 samples consumed, the LR position and
// Adam's step in the manifest; a local run resumes it at step 31.
func TestConvertUniversalToNative(t *testing.T) {
	out := t.TempDir()
	log, err := run(t, "convert", "--model", universalFixture, "--to", "native", "--out", out,
		"--tensor-model-parallel-size", "2", "--pipeline-model-parallel-size", "2")
	if err != nil || !strings.Contains(log, "shard 4 of 4") || !strings.Contains(log, "step 30, 240 samples consumed") {
		t.Fatalf("%v: %s", err, log)
	}
	dir := filepath.Join(out, ckpt.StepDirName(30))
	man, optStep := manifestOf(t, dir)
	if man.Step != 30 || man.ConsumedSamples != 240 || man.LRSamples != 240 || optStep != 30 || man.Layout.TP != 2 || man.Layout.PP != 2 {
		t.Fatalf("manifest %+v, trainer record %s", man, man.Trainer)
	}
	// Joined back into one shard, every tensor is the universal's.
	whole, err := trainer.Reshard(dir, t.TempDir(), trainer.NativeSpec{TP: 1, PP: 1})
	if err != nil {
		t.Fatal(err)
	}
	f, err := ckpt.OpenSafetensors(filepath.Join(whole, ckpt.ShardFileName(0, 0)))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	u, err := deepspeed.OpenUniversal(universalFixture)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range u.Names() {
		p, err := u.Param(name, 264)
		if err != nil {
			t.Fatal(err)
		}
		sameState(t, f, name, p.Shape, p.FP32, p.ExpAvg, p.ExpSq)
	}

	one := t.TempDir()
	if log, err := run(t, "convert", "--model", universalFixture, "--to", "native", "--out", one); err != nil {
		t.Fatal(err, log)
	}
	log, err = run(t, "train", "--local", "--model", one, "--steps", "32", "--seq-length", "16", "--micro-batch-size", "2", "--global-batch-size", "8")
	if err != nil || !strings.Contains(log, "step 30, 240 samples consumed") || !strings.Contains(log, "step 31/32") {
		t.Fatalf("%v: %s", err, log)
	}
}

// TestConvertToNativeRoundTrip: the golden HF model through AscendSpeed
// layer files (TP2×PP2, vocabulary padded) into a native TP=2 checkpoint,
// resharded to PP=2, and back to HF is the golden model bit for bit; HF
// straight to native starts at step 0 with zero moments.
func TestConvertToNativeRoundTrip(t *testing.T) {
	as, n1, n2, hf := t.TempDir(), t.TempDir(), t.TempDir(), t.TempDir()
	for _, args := range [][]string{
		{"--model", golden, "--out", as, "--tensor-model-parallel-size", "2", "--pipeline-model-parallel-size", "2", "--deepspeed"},
		{"--model", as, "--out", n1, "--to", "native", "--tensor-model-parallel-size", "2"},
		{"--model", n1, "--out", n2, "--to", "native", "--pipeline-model-parallel-size", "2", "--partition-layers", "1,1"},
		{"--model", n2, "--out", hf},
	} {
		if log, err := run(t, append([]string{"convert"}, args...)...); err != nil {
			t.Fatal(args, err, log)
		}
	}
	sameHF(t, golden, hf)

	direct := t.TempDir()
	if log, err := run(t, "convert", "--model", golden, "--out", direct, "--to", "native", "--tensor-model-parallel-size", "2"); err != nil {
		t.Fatal(err, log)
	}
	n, err := ckpt.OpenNative(filepath.Join(direct, ckpt.StepDirName(0)))
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	f, _, err := n.Shard(1, 0)
	if err != nil {
		t.Fatal(err)
	}
	v, _, err := f.Float32("exp_avg_sq.h.1.mlp.dense_h_to_4h.weight")
	if err != nil || slices.ContainsFunc(v, func(x float32) bool { return x != 0 }) || n.Manifest.Step != 0 {
		t.Errorf("HF → native: moments not zero or step %d (%v)", n.Manifest.Step, err)
	}
}

// sameHF checks that two HF directories hold the same tensors, bit for bit.
func sameHF(t *testing.T, want, got string) {
	t.Helper()
	a, err := ckpt.OpenHF(want)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := ckpt.OpenHF(got)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	an, bn := a.Names(), b.Names()
	slices.Sort(an)
	slices.Sort(bn)
	if !slices.Equal(an, bn) {
		t.Fatalf("names %v, want %v", bn, an)
	}
	for _, name := range an {
		x, xs, _ := a.Float32(name)
		y, ys, err := b.Float32(name)
		if err != nil || !slices.Equal(xs, ys) || !slices.Equal(x, y) {
			t.Errorf("%s differs (%v %v, %v)", name, xs, ys, err)
		}
	}
}

// TestConvertZeroToNative: a training save in layer files with ZeRO stage 1
// optimizer shards (torch wrote it: scripts/zero/gen_zero.py, TP2×PP2×DP2)
// converts to a native TP=1 checkpoint holding the shards' fp32 master
// weights and Adam moments bit for bit (the padded vocabulary kept), at
// iteration 20, 160 samples consumed, LR position 160, Adam step 20.
func TestConvertZeroToNative(t *testing.T) {
	const save = "../ckpt/deepspeed/testdata/zero"
	out := t.TempDir()
	log, err := run(t, "convert", "--model", save, "--to", "native", "--out", out)
	if err != nil || !strings.Contains(log, "from ascendspeed+zero") || !strings.Contains(log, "step 20, 160 samples consumed") {
		t.Fatalf("%v: %s", err, log)
	}
	dir := filepath.Join(out, ckpt.StepDirName(20))
	man, optStep := manifestOf(t, dir)
	if man.LRSamples != 160 || optStep != 20 {
		t.Fatalf("manifest %+v, trainer record %s", man, man.Trainer)
	}
	f, err := ckpt.OpenSafetensors(filepath.Join(dir, ckpt.ShardFileName(0, 0)))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cp, err := deepspeed.Open(save, ckpt.BloomConfig{})
	if err != nil {
		t.Fatal(err)
	}
	o, err := cp.OpenOptimizer()
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	for _, name := range o.Names() {
		p, err := o.Param(name)
		if err != nil {
			t.Fatal(err)
		}
		sameState(t, f, name, p.Shape, p.FP32, p.ExpAvg, p.ExpSq)
	}
}

// manifestOf reads the manifest of the native checkpoint in dir and the
// optimizer step its trainer record holds.
func manifestOf(t *testing.T, dir string) (ckpt.Manifest, int) {
	t.Helper()
	man, err := ckpt.ReadManifest(dir)
	if err != nil {
		t.Fatal(err)
	}
	var rec struct {
		OptimizerStep int `json:"optimizer_step"`
	}
	if err := json.Unmarshal(man.Trainer, &rec); err != nil {
		t.Fatalf("trainer record %s: %v", man.Trainer, err)
	}
	return man, rec.OptimizerStep
}

// sameState checks that shard f holds name's weights and both Adam moments
// as given, bit for bit.
func sameState(t *testing.T, f *ckpt.File, name string, shape []int, fp32, expAvg, expSq []float32) {
	t.Helper()
	for _, c := range []struct {
		prefix string
		want   []float32
	}{{"model.", fp32}, {"exp_avg.", expAvg}, {"exp_avg_sq.", expSq}} {
		got, s, err := f.Float32(c.prefix + name)
		if err != nil || !slices.Equal(s, shape) || !slices.Equal(got, c.want) {
			t.Errorf("%s%s: shape %v, want %v, values equal %v (%v)", c.prefix, name, s, shape, slices.Equal(got, c.want), err)
		}
	}
}

// TestConvertPytorchBin: a Hugging Face directory with PyTorch weights
// only (pytorch_model.bin, fp16, lm_head tied; as torch.save wrote it) is
// read as any other (it was refused): converted to safetensors in float32
// its tensors are those of the same values saved as float32 .bin shards.
func TestConvertPytorchBin(t *testing.T) {
	out := filepath.Join(t.TempDir(), "st")
	if o, err := run(t, "convert", "--model", "../ckpt/testdata/torch/hf_bin", "--out", out, "--dtype", "F32"); err != nil {
		t.Fatalf("%v\n%s", err, o)
	}
	a, err := ckpt.OpenHF(out)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := ckpt.OpenHF("../ckpt/testdata/torch/hf_bin_sharded")
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if !slices.Equal(a.Names(), b.Names()) {
		t.Fatalf("names %v, want %v", a.Names(), b.Names())
	}
	for _, n := range a.Names() {
		x, _, err1 := a.Float32(n)
		y, _, err2 := b.Float32(n)
		if err1 != nil || err2 != nil || !slices.Equal(x, y) {
			t.Errorf("%s: %v %v", n, err1, err2)
		}
	}
}
