package cli

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"bloom/ckpt"
	"bloom/ckpt/deepspeed"
	"bloom/npu/cpu"
	"bloom/trainer"
)

// TestConvertAscendSpeed: the seed's converter command line turns the
// golden HF model into DeepSpeed layer files (TP2×PP2, vocab padded to
// 128·2), and convert turns those back into an HF directory with the same
// tensors, bit for bit in F32; the progress says tensor n of N.
func TestConvertAscendSpeed(t *testing.T) {
	as := filepath.Join(t.TempDir(), "as")
	log, err := run(t, "convert", "--input-model-dir", golden, "--output-model-dir", as, "--tensor-model-parallel-size", "2",
		"--pipeline-model-parallel-size", "2", "--partition-layers", "1,1", "--deepspeed")
	if err != nil {
		t.Fatal(err, log)
	}
	if !strings.Contains(log, "tensor 58 of 58: layer_06-model_01-model_states.pt") {
		t.Errorf("progress:\n%s", log)
	}
	back := filepath.Join(t.TempDir(), "hf")
	if log, err := run(t, "convert", "--model", as, "--out", back); err != nil {
		t.Fatal(err, log)
	}
	a, err := ckpt.OpenHF(golden)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := ckpt.OpenHF(back)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if a.Config.VocabSize != b.Config.VocabSize || a.Config.NHead != b.Config.NHead || a.Config.EOSTokenID != b.Config.EOSTokenID {
		t.Errorf("config %+v, want %+v", b.Config, a.Config)
	}
	sameHF(t, golden, back)
}

func TestConvertSeedFlagErrors(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--type", "7B", "--deepspeed"}, "--type 7B is 30 layers"},
		{[]string{"--tensor-model-parallel-size", "3"}, "divide by TP 3"},
		{[]string{"--pipeline-model-parallel-size", "2", "--partition-layers", "2,1"}, "--partition-layers"},
		{[]string{"--to", "onnx"}, "--to"},
	} {
		args := append([]string{"convert", "--model", golden, "--out", t.TempDir()}, c.args...)
		if _, err := run(t, args...); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: %v, want %q", c.args, err, c.want)
		}
	}
}

// TestConvertSeedRelease: the seed converter's own output (torch wrote it:
// scripts/ascendspeed/gen_release.py, the golden model at TP2×PP2, vocab
// padded to 120) converts to Hugging Face, and to native on another layout
// and from there to Hugging Face, giving the golden model bit for bit; TP
// and PP come from the files, the vocabulary from --config.
func TestConvertSeedRelease(t *testing.T) {
	const release = "../ckpt/deepspeed/testdata/release"
	cfg := filepath.Join(golden, "config.json")
	hf, native, back := t.TempDir(), t.TempDir(), t.TempDir()
	for _, args := range [][]string{
		{"--input-model-dir", release, "--config", cfg, "--output-model-dir", hf, "--to", "hf"},
		{"--model", release, "--config", cfg, "--to", "native", "--out", native, "--pipeline-model-parallel-size", "2"},
		{"--model", native, "--out", back},
	} {
		if log, err := run(t, append([]string{"convert"}, args...)...); err != nil {
			t.Fatal(args, err, log)
		}
	}
	sameHF(t, golden, hf)
	sameHF(t, golden, back)
}

// TestConvertNativeToLayerFilesStreams: a native checkpoint (TP2) converts
// to layer files from its shards a tensor at a time (trainer.NativeTensors)
// into the same bytes as from the model loaded whole.
func TestConvertNativeToLayerFilesStreams(t *testing.T) {
	native := filepath.Join(t.TempDir(), "native")
	if log, err := run(t, "convert", "--model", golden, "--out", native, "--to", "native", "--tensor-model-parallel-size", "2"); err != nil {
		t.Fatal(err, log)
	}
	nt, cfg, err := trainer.OpenNativeTensors(native)
	if err != nil || nt == nil {
		t.Fatalf("OpenNativeTensors: %v, %v", nt, err)
	}
	defer nt.Close()
	m, _, err := trainer.LoadModel(cpu.New(1), native)
	if err != nil {
		t.Fatal(err)
	}
	whole := newModelSource(m)
	if !slices.Equal(nt.Names(), whole.Names()) {
		t.Fatalf("names %v, want %v", nt.Names(), whole.Names())
	}
	l := deepspeed.Layout{TP: 2, PP: 2}
	o := deepspeed.WriteOptions{DType: ckpt.BF16, DivisibleBy: 128}
	a, b := t.TempDir(), t.TempDir()
	if err := deepspeed.Write(a, nt, cfg, l, o); err != nil {
		t.Fatal(err)
	}
	if err := deepspeed.Write(b, whole, trainer.HFConfig(m, cfg), l, o); err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(a, "release", "*"))
	if len(files) < 4 {
		t.Fatalf("files %v", files)
	}
	for _, f := range files {
		x, _ := os.ReadFile(f)
		y, err := os.ReadFile(filepath.Join(b, "release", filepath.Base(f)))
		if err != nil || !bytes.Equal(x, y) {
			t.Errorf("%s differs: %v", filepath.Base(f), err)
		}
	}
}
