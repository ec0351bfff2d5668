package jobspec

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"bloom/trainer/bloom"
)

// TestSeedScriptFlags: the flags of the seed's pretrain_bloom_7b1.sh, as
// it passes them (its DeepSpeed JSON beside them), make a valid job of
// Bloom-7B's shape trained in fp16 with the seed's loss scaler; the flags
// that change nothing here are accepted, and the ones not implemented say
// so in one line.
func TestSeedScriptFlags(t *testing.T) {
	ds := filepath.Join(t.TempDir(), "ds_config.json")
	if err := os.WriteFile(ds, []byte(`{"train_micro_batch_size_per_gpu":4,"train_batch_size":512,"gradient_clipping":1.0,
"zero_optimization":{"stage":0},"fp16":{"enabled":true,"loss_scale":0,"loss_scale_window":500,"hysteresis":2,
"min_loss_scale":1,"initial_scale_power":12},"steps_per_print":2000,"wall_clock_breakdown":false}`), 0o644); err != nil {
		t.Fatal(err)
	}
	s := Default()
	// In the order setSpec uses: the DeepSpeed config first.
	args := [][2]string{{"deepspeed_config", ds},
		{"num-layers", "30"}, {"hidden-size", "4096"}, {"num-attention-heads", "32"}, {"seq-length", "2048"},
		{"max-position-embeddings", "2048"}, {"position-embedding-type", "alibi"}, {"embed-layernorm", "true"},
		{"normalization", "LayerNorm"}, {"pad-vocab-size-to", "250880"}, {"no-add-gate", "true"}, {"add-bias-linear", "true"},
		{"query-key-layer-scaling", "true"}, {"no-attention-softmax-in-fp32", "true"},
		{"no-untie-embeddings-and-output-weights", "true"}, {"sequence-parallel", "true"},
		{"tensor-model-parallel-size", "8"}, {"pipeline-model-parallel-size", "1"},
		{"micro-batch-size", "4"}, {"global-batch-size", "512"}, {"rampup-batch-size", "192,16,9_765_625"},
		{"train-samples", "220_000_000"}, {"lr-decay-samples", "200_000_000"}, {"lr-warmup-samples", "183_105"},
		{"lr", "1.2e-4"}, {"min-lr", "6e-6"}, {"lr-decay-style", "cosine"},
		{"optimizer", "adam"}, {"adam-beta1", "0.9"}, {"adam-beta2", "0.95"}, {"adam-eps", "1e-8"},
		{"weight-decay", "1e-1"}, {"clip-grad", "1.0"}, {"init-method-std", "0.0048"}, {"seed", "42"}, {"fp16", "true"},
		{"save-interval", "250"}, {"log-interval", "1"}, {"data-impl", "mmap"}, {"deepspeed", "true"},
		{"zero-stage", "0"}, {"distributed-backend", "nccl"}, {"eval-interval", "1000"}, {"eval-iters", "1"},
		{"data-path", "/data/enwiki_text_document"},
		{"checkpoint-activations", "true"}, {"use-manual-layer-allocation", "true"}, {"manual-layers", "30"},
	}
	for _, a := range args {
		if err := s.Set(a[0], a[1]); err != nil {
			t.Fatalf("--%s %s: %v", a[0], a[1], err)
		}
	}
	if err := s.Validate(); err != nil {
		t.Fatal(err)
	}
	c, err := s.ModelConfig()
	if err != nil {
		t.Fatal(err)
	}
	want, _ := bloom.Preset("bloom-7b1")
	if c != want {
		t.Errorf("shape %+v, bloom-7b1 is %+v", c, want)
	}
	if !s.FP16 || s.InitialLossScale != 4096 || s.LossScaleWindow != 500 || s.Hysteresis != 2 || s.MinLossScale != 1 ||
		s.ZeroStage == nil || *s.ZeroStage != 0 || s.MicroBatch != 4 || s.GlobalBatch != 512 || s.ClipGrad != 1 {
		t.Errorf("from the DeepSpeed config and flags: %+v", s)
	}
	f, _ := lookupField("sequence-parallel")
	if f.Note == "" {
		t.Error("--sequence-parallel has no note")
	}
	if s.Steps() != 441_356 {
		t.Errorf("the seed's 220M samples with its ramp-up last %d steps; Megatron counts 441,356", s.Steps())
	}
	// The lr decays over --lr-decay-samples; without it over
	// --train-samples, as Megatron defaults it (not steps × global batch,
	// 225,974,272 under the ramp-up).
	if d := s.DecaySamples(); d != 200_000_000 {
		t.Errorf("decay over %d samples, the seed says 200M", d)
	}
	s.LRDecaySamples = 0
	if d := s.DecaySamples(); d != 220_000_000 {
		t.Errorf("without --lr-decay-samples the lr decays over %d samples; Megatron: --train-samples, 220M", d)
	}
	for _, bad := range [][2]string{{"position-embedding-type", "rotary"},
		{"optimizer", "sgd"}} {
		d := Default()
		err := d.Set(bad[0], bad[1])
		if err == nil || strings.Contains(err.Error(), "\n") {
			t.Errorf("--%s %s: %v (want a one-line refusal)", bad[0], bad[1], err)
		}
	}
	// A DeepSpeed setting without an equivalent, and a static scale.
	for _, body := range []string{`{"optimizer":{"type":"Adam"}}`, `{"fp16":{"enabled":true,"loss_scale":128}}`} {
		p := filepath.Join(t.TempDir(), "ds.json")
		os.WriteFile(p, []byte(body), 0o644)
		d := Default()
		if err := d.Set("deepspeed-config", p); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v", body, err)
		}
	}
	// A ramp-up that does not reach the global batch.
	s4 := Default()
	s4.Set("rampup-batch-size", "100,16,10")
	s4.GlobalBatch, s4.ModelPreset, s4.TrainIters = 512, "bloom-tiny", 10
	if err := s4.Validate(); err == nil || !strings.Contains(err.Error(), "rampup") {
		t.Errorf("--rampup-batch-size 100 16 10 with --global-batch-size 512: %v", err)
	}
	// --max-position-embeddings below --seq-length, and a preset beside a shape.
	s2 := Default()
	s2.Set("max-position-embeddings", "16")
	s2.SeqLength, s2.ModelPreset, s2.TrainIters = 32, "bloom-tiny", 10
	if err := s2.Validate(); err == nil || !strings.Contains(err.Error(), "max-position-embeddings") {
		t.Error("--seq-length 32 with --max-position-embeddings 16 was accepted")
	}
	s3 := Default()
	s3.Set("model-preset", "bloom-tiny")
	s3.Set("num-layers", "2")
	if _, err := s3.ModelConfig(); err == nil {
		t.Error("--model-preset with --num-layers was accepted")
	}
}

// TestChecksBeforeCompute: sizes whose products would overflow, and a
// --split that is not weights, are refused at submit (before, a batch of
// 2^62 overflowed inside the worker and "a,b,c" was accepted).
func TestChecksBeforeCompute(t *testing.T) {
	for _, edit := range []func(*Spec){
		func(s *Spec) { s.GlobalBatch, s.MicroBatch = 1<<62, 1<<60 },
		func(s *Spec) { s.MicroBatch, s.GlobalBatch = 1<<26, 1<<26 },
		func(s *Spec) { s.Split = "a,b,c" },
		func(s *Spec) { s.Split = "0,0,0" },
		func(s *Spec) { s.TrainIters = 1 << 62 },
	} {
		s := Default()
		s.ModelPreset, s.TrainIters = "bloom-tiny", 10
		edit(&s)
		if err := s.Validate(); err == nil {
			t.Errorf("accepted %+v", s)
		}
	}
}
