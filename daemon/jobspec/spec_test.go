package jobspec

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"bloom/npu"
	"bloom/trainer"
	"bloom/trainer/bloom"
)

func TestParseJobFile(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "config.json"), []byte(`{"model_type":"bloom","vocab_size":512,"hidden_size":96,"n_head":6,"n_layer":3,"layer_norm_epsilon":1e-5}`), 0o644)
	tests := []struct {
		name string
		file string
		want func(*File)
	}{
		{"yaml flat", `# a tiny job
name: demo
model-preset: bloom-tiny
tensor-model-parallel-size: 2
pipeline_model_parallel_size: 2   # underscores work too
micro-batch-size: 2
global-batch-size: 8
train-iters: 20
lr: 5e-3
data-path: "/data/my corpus_text_document"
`, func(j *File) {
			j.Name, j.Spec.ModelPreset, j.Spec.TensorParallel, j.Spec.PipelineParallel = "demo", "bloom-tiny", 2, 2
			j.Spec.MicroBatch, j.Spec.GlobalBatch, j.Spec.TrainIters, j.Spec.LR = 2, 8, 20, 5e-3
			j.Spec.DataPath = "/data/my corpus_text_document"
		}},
		{"yaml lists", `---
model-preset: bloom-tiny-6h
pipeline-model-parallel-size: 2
partition-layers:
  - 2
  - 1
train-samples: 64
`, func(j *File) {
			j.Spec.ModelPreset, j.Spec.PipelineParallel, j.Spec.PartitionLayers, j.Spec.TrainSamples = "bloom-tiny-6h", 2, []int{2, 1}, 64
		}},
		{"flow list and config", `config: config.json
pipeline-model-parallel-size: 2
partition-layers: [1, 2]
train-iters: 5
`, func(j *File) {
			j.Spec.Model = &bloom.Config{Vocab: 512, Hidden: 96, Heads: 6, Layers: 3, Eps: 1e-5}
			j.Spec.PipelineParallel, j.Spec.PartitionLayers, j.Spec.TrainIters = 2, []int{1, 2}, 5
		}},
		{"lora", `model-preset: bloom-tiny
load: /models/base
lora-target-modules:
  - query_key_value
  - dense
lora_r: 8
lora-alpha: 16
train-iters: 4
data-path: /data/alpaca
is-instruction-dataset: true
`, func(j *File) {
			j.Spec.ModelPreset, j.Spec.Load, j.Spec.LoRATargetModules, j.Spec.LoRAR, j.Spec.LoRAAlpha = "bloom-tiny", "/models/base", []string{"query_key_value", "dense"}, 8, 16
			j.Spec.TrainIters, j.Spec.DataPath, j.Spec.InstructionDataset = 4, "/data/alpaca", true
		}},
		{"lora one line", `{"model_preset": "bloom-tiny", "train-iters": 3, "lora-target-modules": "query_key_value,dense_4h_to_h"}`,
			func(j *File) {
				j.Spec.ModelPreset, j.Spec.TrainIters, j.Spec.LoRATargetModules = "bloom-tiny", 3, []string{"query_key_value", "dense_4h_to_h"}
			}},
		{"json", `{"name": "j", "model_preset": "bloom-tiny", "train-iters": 3, "partition-layers": [2], "seed": 7}`,
			func(j *File) {
				j.Name, j.Spec.ModelPreset, j.Spec.TrainIters, j.Spec.PartitionLayers, j.Spec.Seed = "j", "bloom-tiny", 3, []int{2}, 7
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseFile([]byte(tc.file), dir)
			if err != nil {
				t.Fatal(err)
			}
			want := File{Spec: Default()}
			tc.want(&want)
			if !reflect.DeepEqual(got, want) {
				t.Errorf("got  %+v\nwant %+v", got.Spec, want.Spec)
			}
		})
	}
}

// TestInferenceContextDefault: an inference job that names no seq-length
// gets its local command's context (generate and serve 2048, evaluate
// 1024), from a job file and from DefaultFor, and one that names it keeps
// it; a training job keeps 64.
func TestInferenceContextDefault(t *testing.T) {
	for _, tc := range []struct {
		file string
		want int
	}{
		{"kind: serve\nmodel-preset: bloom-tiny\nload: /m\n", 2048},
		{"load: /m\nmodel-preset: bloom-tiny\nkind: generate\nprompt: [hi]\n", 2048},
		{"kind: evaluate\nmodel-preset: bloom-tiny\nload: /m\ntask: boolq\ntask-data-path: /d\n", 1024},
		{"kind: serve\nmodel-preset: bloom-tiny\nload: /m\nseq-length: 300\n", 300},
		{"seq_length: 300\nkind: serve\nmodel-preset: bloom-tiny\nload: /m\n", 300},
		{"model-preset: bloom-tiny\ntrain-iters: 2\n", 64},
	} {
		jf, err := ParseFile([]byte(tc.file), t.TempDir())
		if err != nil || jf.Spec.SeqLength != tc.want {
			t.Errorf("%q: seq-length %d (%v), want %d", tc.file, jf.Spec.SeqLength, err, tc.want)
		}
	}
	for kind, want := range map[string]int{KindPretrain: 64, KindGenerate: 2048, KindServe: 2048, KindEvaluate: 1024} {
		if s := DefaultFor(kind); s.Kind != kind || s.SeqLength != want {
			t.Errorf("DefaultFor(%s): kind %s, seq-length %d, want %d", kind, s.Kind, s.SeqLength, want)
		}
	}
}

func TestParseJobFileErrors(t *testing.T) {
	tests := []struct{ file, want string }{
		{"model-preset: bloom-tiny\ntrain-iters: 5\ntrain-iters: 6\n", "line 3: train-iters is already set on line 2"},
		{"model-preset: bloom-tiny\nmodel:\n  hidden: 4\n", "line 3: nested maps"},
		{"model-preset: bloom-tiny\ntensor-model-paralel-size: 2\n", "did you mean tensor-model-parallel-size"},
		{"model-preset: bloom-tiny\ntrain-iters: many\n", "want an integer"},
		{"model-preset: bloom-tiny\ntrain-iters: [1, 2]\n", "takes one value"},
		{"- 1\n", "list item with no `key:`"},
		{"name: \"open\n", "unterminated"},
		{"model-preset: bloom-tiny\n", "give --train-iters N or --train-samples N"},
		{"train-iters: 5\n", "no model"},
		{`{"model-preset": {"a": 1}}`, "want a number, a string or a list"},
		{"model-preset: bloom-tiny\ntrain-iters: 5\nconfig: missing.json\n", "config"},
		{"\tname: x\n", "tabs"},
	}
	for _, tc := range tests {
		_, err := ParseFile([]byte(tc.file), t.TempDir())
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want ErrInvalid containing %q", tc.file, err, tc.want)
		}
	}
}

func validSpec() Spec {
	s := Default()
	s.ModelPreset, s.TrainIters = "bloom-tiny", 10
	return s
}

func TestJobSpecValidate(t *testing.T) {
	tests := []struct {
		name string
		edit func(*Spec)
		want string // "" = valid
	}{
		{"default tiny", func(s *Spec) {}, ""},
		{"tp 2 pp 2", func(s *Spec) { s.TensorParallel, s.PipelineParallel = 2, 2 }, ""},
		{"heads not divisible", func(s *Spec) { s.TensorParallel = 3 }, "4 attention heads do not divide by --tensor-model-parallel-size 3"},
		{"custom shape", func(s *Spec) {
			s.ModelPreset, s.Model = "", &bloom.Config{Vocab: 320, Hidden: 66, Heads: 6, Layers: 2}
		}, ""},
		{"vocab not divisible by tp", func(s *Spec) {
			s.ModelPreset, s.Model = "", &bloom.Config{Vocab: 330, Hidden: 64, Heads: 4, Layers: 2}
			s.TensorParallel = 4
		}, "vocabulary 330 does not divide by --tensor-model-parallel-size 4"},
		{"uneven pipeline", func(s *Spec) { s.ModelPreset, s.PipelineParallel = "bloom-tiny-6h", 2 }, "pass --partition-layers (e.g. 2,1)"},
		{"partition sum", func(s *Spec) { s.PipelineParallel, s.PartitionLayers = 2, []int{1, 2} }, "sums to 3 but the model has 2 layers"},
		{"partition count", func(s *Spec) { s.PipelineParallel, s.PartitionLayers = 2, []int{2} }, "has 1 stages but --pipeline-model-parallel-size is 2"},
		{"partition zero", func(s *Spec) { s.PipelineParallel, s.PartitionLayers = 2, []int{0, 2} }, "at least one layer"},
		{"more stages than layers", func(s *Spec) { s.PipelineParallel = 3 }, "more than the 2 layers"},
		{"batch vs micro×dp", func(s *Spec) { s.DataParallel, s.MicroBatch, s.GlobalBatch = 3, 2, 8 }, "not divisible by --micro-batch-size 2 × data-parallel size 3 = 6"},
		{"both lengths", func(s *Spec) { s.TrainSamples = 80 }, "not both"},
		{"lr order", func(s *Spec) { s.MinLR = 1 }, "--min-lr"},
		{"decay style", func(s *Spec) { s.LRDecayStyle = "step" }, "use cosine, linear or constant"},
		{"small vocab on bytes", func(s *Spec) {
			s.ModelPreset, s.Model = "", &bloom.Config{Vocab: 100, Hidden: 64, Heads: 4, Layers: 2}
		}, "at least 260"},
		{"unknown preset", func(s *Spec) { s.ModelPreset = "bloom-huge" }, "unknown preset"},
		{"kind", func(s *Spec) { s.Kind = "sleep" }, "the kinds are pretrain, generate, evaluate and serve"},
		{"lora", func(s *Spec) { s.LoRATargetModules, s.TensorParallel = []string{"query_key_value", "dense"}, 2 }, ""},
		{"lora target", func(s *Spec) { s.LoRATargetModules = []string{"lm_head"} }, "BLOOM's are query_key_value, dense"},
		{"instruction data", func(s *Spec) { s.InstructionDataset, s.DataPath = true, "/data/alpaca" }, ""},
		{"instruction data without a path", func(s *Spec) { s.InstructionDataset = true }, "--is-instruction-dataset needs --data-path"},
		{"lora rank", func(s *Spec) { s.LoRATargetModules, s.LoRAR = []string{"dense"}, -1 }, "positive rank"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := validSpec()
			tc.edit(&s)
			err := s.Validate()
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("%v, want ErrInvalid containing %q", err, tc.want)
			}
		})
	}
}

func TestResolveLayout(t *testing.T) {
	tests := []struct {
		tp, pp, dp, mb, gb, devices int
		wantDP                      int
		want                        string
	}{
		{1, 1, 0, 4, 8, 6, 2, ""},  // 6 replicas fit; 2 is the largest dividing 8/4
		{1, 2, 0, 2, 12, 6, 3, ""}, // (1,2,3) fills 3 nodes × 2
		{2, 1, 0, 1, 8, 6, 2, ""},  // 3 fit, 8 % 3 ≠ 0
		{2, 2, 2, 1, 8, 6, 0, "= 8 ranks, but the cluster has 6 devices: lower --data-parallel-size to 1"},
		{4, 2, 0, 1, 8, 6, 0, "TP 4 × PP 2 = 8 devices per replica, but the cluster has 6"},
		{1, 1, 6, 1, 6, 6, 6, ""},
	}
	for _, tc := range tests {
		s := validSpec()
		s.TensorParallel, s.PipelineParallel, s.DataParallel, s.MicroBatch, s.GlobalBatch = tc.tp, tc.pp, tc.dp, tc.mb, tc.gb
		err := s.ResolveLayout(tc.devices)
		if tc.want != "" {
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("%+v: %v, want %q", tc, err, tc.want)
			}
			continue
		}
		if err != nil || s.DataParallel != tc.wantDP {
			t.Errorf("%+v: DP %d, %v; want DP %d", tc, s.DataParallel, err, tc.wantDP)
		}
	}
}

func TestSpecRoundTrip(t *testing.T) {
	s := validSpec()
	s.PipelineParallel, s.PartitionLayers, s.DataParallel = 2, []int{1, 1}, 3
	s.GlobalBatch, s.MicroBatch = 12, 2
	b, err := s.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	got, err := Decode(b)
	if err != nil || !reflect.DeepEqual(got, s) {
		t.Fatalf("%+v %v", got, err)
	}
	// A bloomd that predates LoRA rejects unknown fields: a spec without
	// LoRA must not carry any.
	if strings.Contains(string(b), "lora") {
		t.Errorf("a spec without LoRA mentions it: %s", b)
	}
	s.LoRATargetModules = []string{"dense"}
	if b, _ = s.Marshal(); !strings.Contains(string(b), `"lora_target_modules":["dense"]`) {
		t.Errorf("LoRA spec: %s", b)
	}
	if m, err := s.ModelConfig(); err != nil || m.LoRA.R != 16 || m.LoRA.Alpha != 32 {
		t.Errorf("LoRA defaults: %+v %v", m.LoRA, err)
	}
	if _, err := Decode([]byte(`{"kind":"pretrain","bogus":1}`)); !errors.Is(err, ErrInvalid) {
		t.Errorf("unknown field: %v", err)
	}
}

// TestSpecModelShape: a config.json's shape travels as bloom.Config's JSON,
// under the keys ModelShape used (config.json's), without LoRA keys; LoRA
// inside the shape is refused (it has flags of its own).
func TestSpecModelShape(t *testing.T) {
	s := validSpec()
	s.ModelPreset, s.Model = "", &bloom.Config{Vocab: 320, Hidden: 64, Heads: 4, Layers: 2, Eps: 1e-5}
	b, err := s.Marshal()
	if err != nil || !strings.Contains(string(b), `"model":{"vocab_size":320,"hidden_size":64,"n_head":4,"n_layer":2,"layer_norm_epsilon":0.00001}`) {
		t.Fatalf("%s %v", b, err)
	}
	if got, err := Decode(b); err != nil || !reflect.DeepEqual(got, s) {
		t.Fatalf("%+v %v", got, err)
	}
	s.Model.LoRA.R = 4
	if _, err := s.ModelConfig(); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "--lora-target-modules") {
		t.Errorf("LoRA in the shape: %v", err)
	}
}

func TestYAMLSubset(t *testing.T) {
	got, err := parseYAMLSubset("a: 'it''s' # c\nb: \"x#y\"\nc: a#b\nd: []\ne:\nf: [ 'p, q' ]\n")
	if err != nil {
		t.Fatal(err)
	}
	want := []yamlEntry{
		{Key: "a", Values: []string{"it's"}, Line: 1},
		{Key: "b", Values: []string{"x#y"}, Line: 2},
		{Key: "c", Values: []string{"a#b"}, Line: 3},
		{Key: "d", Values: []string{}, List: true, Line: 4},
		{Key: "e", List: true, Line: 5},
		{Key: "f", Values: []string{"p, q"}, List: true, Line: 6},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}
}

// FuzzParseJobFile: no panic; whatever is accepted validates and round-trips.
func FuzzParseJobFile(f *testing.F) {
	f.Add([]byte("model-preset: bloom-tiny\ntrain-iters: 5\npartition-layers: [1]\n"))
	f.Add([]byte(`{"model-preset":"bloom-tiny","train-iters":5}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		jf, err := ParseFile(b, t.TempDir())
		if err != nil {
			return
		}
		raw, err := jf.Spec.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Decode(raw); err != nil {
			t.Fatalf("accepted spec does not round-trip: %v", err)
		}
	})
}

// TestPrecisionSettings: --fp16 and --bf16 (flags and job-file keys) reach
// the trainer's config with the seed's loss-scaler settings unless given,
// --zero-stage 0 picks FP16_Optimizer's rule, and bad combinations are
// refused with the flag named.
func TestPrecisionSettings(t *testing.T) {
	jf, err := ParseFile([]byte("model-preset: bloom-tiny\ntrain-iters: 4\nfp16: true\nloss-scale-window: 100\nzero-stage: 0\n"), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	c := jf.Spec.TrainConfig()
	want := trainer.LossScaleConfig{InitialScalePower: 12, Window: 100, Hysteresis: 2, MinScale: 1, Rule: trainer.RuleFP16Optimizer}
	if c.Precision != npu.F16 || c.LossScale != want {
		t.Errorf("fp16 job file: precision %v, loss scale %+v; want fp16, %+v", c.Precision, c.LossScale, want)
	}
	s := Default()
	s.TrainIters, s.ModelPreset = 4, "bloom-tiny"
	if err := s.Set("bf16", "true"); err != nil {
		t.Fatal(err)
	}
	if c := s.TrainConfig(); c.Precision != npu.BF16 || c.LossScale.Rule != trainer.RuleLossScaler || c.Tokenizer != trainer.ByteTokenizer {
		t.Errorf("bf16: %v %+v", c.Precision, c.LossScale)
	}
	b, err := s.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if back, err := Decode(b); err != nil || !back.BF16 {
		t.Errorf("round trip: %+v %v", back, err)
	}
	for _, tc := range []struct {
		set  [][2]string
		want string
	}{
		{[][2]string{{"fp16", "true"}, {"bf16", "true"}}, "exclude each other"},
		{[][2]string{{"bf16", "true"}, {"hysteresis", "3"}}, "apply to --fp16 only"},
		{[][2]string{{"fp16", "true"}, {"initial-loss-scale", "1000"}}, "power of two"},
		{[][2]string{{"fp16", "true"}, {"zero-stage", "4"}}, "--zero-stage 4"},
		{[][2]string{{"fp16", "true"}, {"initial-loss-scale", "4"}, {"min-loss-scale", "8"}}, "--min-loss-scale"},
	} {
		s := Default()
		s.TrainIters, s.ModelPreset = 4, "bloom-tiny"
		for _, kv := range tc.set {
			if err := s.Set(kv[0], kv[1]); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: %v, want an error with %q", tc.set, err, tc.want)
		}
	}
}

// TestInferenceSpecs: generate and evaluate jobs need a model to load and
// their own settings; prompts keep their commas; training settings are
// refused; the layout resolves to one replica.
func TestInferenceSpecs(t *testing.T) {
	gen := Default()
	gen.Kind, gen.ModelPreset, gen.Load = KindGenerate, "bloom-tiny", "/models/m"
	if err := gen.Set("prompt", "Hello, world"); err != nil {
		t.Fatal(err)
	}
	if err := gen.Validate(); err != nil || len(gen.Prompts) != 1 || gen.Prompts[0] != "Hello, world" {
		t.Fatalf("generate %q: %v", gen.Prompts, err)
	}
	half := gen
	half.FP16 = true // the seed generates in fp16
	if err := half.Validate(); err != nil || half.Precision() != npu.F16 {
		t.Errorf("generate --fp16: %v, precision %v", err, half.Precision())
	}
	if err := gen.ResolveLayout(8); err != nil || gen.DataParallel != 1 {
		t.Errorf("layout: DP %d %v", gen.DataParallel, err)
	}
	// A serve job's cache of fp16: the type, and half the bytes of fp32's
	// in the memory plan's activations (the cache is most of them).
	srv := gen
	srv.Kind, srv.Prompts = KindServe, nil
	if err := srv.Set("kv-cache-dtype", "fp16"); err != nil {
		t.Fatal(err)
	}
	if err := srv.Validate(); err != nil || srv.KVType() != npu.F16 {
		t.Fatalf("serve --kv-cache-dtype fp16: %v, %v", err, srv.KVType())
	}
	full := srv
	full.KVCacheDType = ""
	ph, err1 := srv.MemoryPlan()
	pf, err2 := full.MemoryPlan()
	if err1 != nil || err2 != nil || full.KVType() != npu.F32 {
		t.Fatal(err1, err2, full.KVType())
	}
	kvf := int64(2 * 2 * 8 * srv.SeqLength * 64 * 4) // K and V, 2 layers, 8 rows, hidden 64, 4 bytes
	if ah, af := ph.PerRank(0).Activations, pf.PerRank(0).Activations; af-ah != kvf/2 {
		t.Errorf("activations with an fp16 cache %d, fp32 %d: %d apart, want %d", ah, af, af-ah, kvf/2)
	}
	// On NPU devices a serving engine keeps a staging cache beside the one
	// it scores in (one float32 sequence: K and V, 2 layers, hidden 64);
	// on CPU devices it prefills in place and keeps only the latter.
	sc, err1 := srv.MemoryPlanOn("cpu")
	sn, err2 := srv.MemoryPlanOn("npu")
	if d, want := sn.PerRank(0).Activations-sc.PerRank(0).Activations, int64(2*2*srv.SeqLength*64*4); err1 != nil || err2 != nil || d != want {
		t.Errorf("a serve job's activations on npu exceed cpu's by %d, want a staging cache's %d (%v %v)", d, want, err1, err2)
	}
	// Without the packed copy of the weights: less memory by the copy
	// (bloom-tiny: 2 layers of 12·64² in the linears, the 320×64 head,
	// float32), nothing else changed.
	lean := gen
	if err := lean.Set("no-pack-weights", "true"); err != nil || lean.Validate() != nil || !lean.NoPackWeights {
		t.Fatalf("generate --no-pack-weights: %v %v", err, lean.Validate())
	}
	pp, err1 := gen.MemoryPlan()
	pl, err2 := lean.MemoryPlan()
	if err1 != nil || err2 != nil {
		t.Fatal(err1, err2)
	}
	if d := pp.PerRank(0).Weights - pl.PerRank(0).Weights; d != 4*(2*12*64*64+320*64) || pp.PerRank(0).Activations != pl.PerRank(0).Activations {
		t.Errorf("--no-pack-weights saves %d bytes of weights, want the copy %d", d, 4*(2*12*64*64+320*64))
	}
	// On NPU devices (the Ascend backend packs nothing) a generate job's
	// plan is that of --no-pack-weights on CPU; a training job's is the
	// same on both kinds; an unknown kind is refused.
	plans, err := gen.MemoryPlans()
	if err != nil || len(plans) != 2 || plans["cpu"].PerRank(0) != pp.PerRank(0) || plans["npu"].PerRank(0) != pl.PerRank(0) {
		t.Errorf("generate's plans by device kind %+v (%v): want cpu %+v, npu %+v", plans, err, pp.PerRank(0), pl.PerRank(0))
	}
	train := Default()
	train.ModelPreset, train.MicroBatch, train.GlobalBatch, train.SeqLength = "bloom-tiny", 1, 1, 32
	tc, err1 := train.MemoryPlanOn("cpu")
	tn, err2 := train.MemoryPlanOn("npu")
	if err1 != nil || err2 != nil || tc.PerRank(0) != tn.PerRank(0) {
		t.Errorf("a training job's plan on cpu %+v (%v), on npu %+v (%v): want the same", tc.PerRank(0), err1, tn.PerRank(0), err2)
	}
	if _, err := gen.MemoryPlanOn("gpu"); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), `"gpu"`) {
		t.Errorf("a plan on gpu: %v", err)
	}
	// A training job refuses what only inference reads, naming it, rather
	// than ignoring it.
	train.Prompts, train.KVCacheDType, train.NoPackWeights = []string{"hi"}, "fp16", true
	if err := train.Validate(); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "runs no inference: drop --prompt, --kv-cache-dtype, --no-pack-weights") {
		t.Errorf("a pretrain job with inference settings: %v", err)
	}
	jf, err := ParseFile([]byte("kind: evaluate\nmodel-preset: bloom-tiny\nload: /m\ntask: mmlu\ntask-data-path: /data/mmlu\nlimit: 10\n"), t.TempDir())
	if err != nil || jf.Spec.Validate() != nil || jf.Spec.Limit != 10 {
		t.Fatalf("evaluate job file: %+v %v", jf.Spec, err)
	}
	for _, tc := range []struct {
		edit func(*Spec)
		want string
	}{
		{func(s *Spec) { s.Load = "" }, "--load"},
		{func(s *Spec) { s.Prompts = nil }, "--prompt"},
		{func(s *Spec) { s.TrainIters = 5 }, "trains nothing"},
		{func(s *Spec) { s.Kind, s.Task = KindEvaluate, "squad" }, `--task "squad"`},
		{func(s *Spec) { s.TopP = 2 }, "--top-p"},
		{func(s *Spec) { s.FP16, s.BF16 = true, true }, "exclude each other"},
		{func(s *Spec) { s.FP16, s.InitialLossScale = true, 1024 }, "no loss scaler"},
		{func(s *Spec) { s.KVCacheDType = "fp16" }, "--kv-cache-dtype is for serve jobs"},
		{func(s *Spec) { s.Kind, s.Prompts, s.NoPackWeights = KindServe, nil, true }, "--no-pack-weights is for generate and evaluate"},
		{func(s *Spec) { s.Kind, s.Prompts, s.KVCacheDType = KindServe, nil, "int8" }, `--kv-cache-dtype: "int8" is not a type`},
	} {
		s := gen
		s.Prompts = slices.Clone(gen.Prompts)
		tc.edit(&s)
		if err := s.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want an error about %s", s, err, tc.want)
		}
	}
}

// TestFits: Bloom-7B1 generating on TP8 in fp16 needs 5.77 GiB a rank on
// CPU devices (its matrices packed a second time) and 4.13 GiB on NPUs;
// eight devices of 5 GiB take it as NPUs, not as CPUs; a node that has not
// reported its memory counts as able; with none reporting nothing is
// refused.
func TestFits(t *testing.T) {
	jf, err := ParseFile([]byte("kind: generate\nmodel-preset: bloom-7b1\ntensor-model-parallel-size: 8\nload: /m\nprompt: [hello]\nfp16: true\nmicro-batch-size: 1\nseq-length: 2048\n"), t.TempDir())
	if err != nil || jf.Spec.Validate() != nil {
		t.Fatalf("generate job file: %v %v", err, jf.Spec.Validate())
	}
	s := jf.Spec
	const gib5 = 5 << 10 // MiB
	cpu := func(n int, mem uint64) Offer { return Offer{Devices: map[string]int{"cpu": n}, MemMiB: mem} }
	npu := func(n int, mem uint64) Offer { return Offer{Devices: map[string]int{"npu": n}, MemMiB: mem} }
	for _, tc := range []struct {
		name   string
		offers []Offer
		want   string // "" fits
	}{
		{"8 NPUs of 5 GiB", []Offer{npu(8, gib5)}, ""},
		{"8 CPUs of 5 GiB", []Offer{cpu(8, gib5)}, "each rank of pipeline stage 0 needs about 5.77 GiB"},
		{"4 NPUs of 5 GiB beside 4 CPUs", []Offer{npu(4, gib5), cpu(4, gib5)}, "4 of the 8 ranks"},
		{"4 NPUs of 5 GiB, 4 CPUs not reported", []Offer{npu(4, gib5), cpu(4, 0)}, ""},
		{"8 CPUs of 6 GiB", []Offer{cpu(8, 6<<10)}, ""},
		{"none reported", []Offer{cpu(2, 0)}, ""},
		{"no nodes", nil, ""},
	} {
		err := s.Fits(tc.offers)
		if tc.want == "" && err != nil || tc.want != "" && (!errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.want) ||
			!strings.Contains(err.Error(), "out of memory before it starts")) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
	}
}
