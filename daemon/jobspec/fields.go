package jobspec

import (
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"

	"bloom/internal/suggest"
)

// Field is one setting of a job spec, named as the seed's Megatron flag
// (--tensor-model-parallel-size): the same name is a `bloomctl submit
// pretrain` flag, a `bloomctl train --local` flag where it means something
// in one process, and a key of a job file (dashes or underscores).
type Field struct {
	Name  string
	Usage string
	// List fields take several values (a YAML list, or "a,b,c"); setting
	// one replaces what it held (reset), then appends each value (set).
	List bool
	// Raw list values are taken whole: "a,b" is one value (text prompts).
	Raw  bool
	Bool bool // a switch: a bare flag sets it
	// Note, when set, says what a flag of the seed's that changes nothing
	// here means (a command shows it when the flag is given).
	Note string
	// Aliases are other names of the flag (the seed's spellings).
	Aliases []string
	set     func(s *Spec, v string) error
	get     func(s *Spec) string
	reset   func(s *Spec)
}

// Default is the field's value in Default, as text ("" when unset).
func (f Field) Default() string {
	s := Default()
	return f.get(&s)
}

func intField(name, usage string, p func(*Spec) *int) Field {
	return Field{Name: name, Usage: usage,
		set: func(s *Spec, v string) error {
			n, err := strconv.Atoi(v)
			if err != nil {
				return fmt.Errorf("want an integer, got %q", v)
			}
			*p(s) = n
			return nil
		},
		get: func(s *Spec) string { return strconv.Itoa(*p(s)) }}
}

func int64Field(name, usage string, p func(*Spec) *int64) Field {
	return Field{Name: name, Usage: usage,
		set: func(s *Spec, v string) error {
			n, err := strconv.ParseInt(strings.ReplaceAll(v, "_", ""), 10, 64)
			if err != nil {
				return fmt.Errorf("want an integer, got %q", v)
			}
			*p(s) = n
			return nil
		},
		get: func(s *Spec) string { return strconv.FormatInt(*p(s), 10) }}
}

func floatField(name, usage string, p func(*Spec) *float64) Field {
	return Field{Name: name, Usage: usage,
		set: func(s *Spec, v string) error {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				return fmt.Errorf("want a number, got %q", v)
			}
			*p(s) = f
			return nil
		},
		get: func(s *Spec) string { return strconv.FormatFloat(*p(s), 'g', -1, 64) }}
}

func boolField(name, usage string, p func(*Spec) *bool) Field {
	return Field{Name: name, Usage: usage, Bool: true,
		set: func(s *Spec, v string) error {
			b, err := strconv.ParseBool(v)
			if err != nil {
				return fmt.Errorf("want true or false, got %q", v)
			}
			*p(s) = b
			return nil
		},
		get: func(s *Spec) string { return strconv.FormatBool(*p(s)) }}
}

func stringField(name, usage string, p func(*Spec) *string) Field {
	return Field{Name: name, Usage: usage,
		set: func(s *Spec, v string) error { *p(s) = v; return nil },
		get: func(s *Spec) string { return *p(s) }}
}

// allFields lists every setting, in help order.
var allFields = []Field{
	stringField("model-preset", "model shape: a preset name (bloom-tiny, bloom-560m, bloom-7b1, ...)", func(s *Spec) *string { return &s.ModelPreset }),
	intField("tensor-model-parallel-size", "TP: ranks that split each layer (inside one node)", func(s *Spec) *int { return &s.TensorParallel }),
	intField("pipeline-model-parallel-size", "PP: pipeline stages (across nodes)", func(s *Spec) *int { return &s.PipelineParallel }),
	intField("data-parallel-size", "DP: model replicas (0 = as many as the devices allow)", func(s *Spec) *int { return &s.DataParallel }),
	{Name: "partition-layers", Aliases: []string{"manual-layers"}, List: true, Usage: "layers of each pipeline stage, e.g. 13,11 (default: an even split; the seed's --manual-layers)",
		set: func(s *Spec, v string) error {
			n, err := strconv.Atoi(strings.TrimSpace(v))
			if err != nil {
				return fmt.Errorf("want layer counts such as 12,12, got %q", v)
			}
			s.PartitionLayers = append(s.PartitionLayers, n)
			return nil
		},
		get:   func(s *Spec) string { return joinInts(s.PartitionLayers) },
		reset: func(s *Spec) { s.PartitionLayers = s.PartitionLayers[:0] }},
	intField("micro-batch-size", "sequences per forward/backward on one rank (Megatron has no default; bloom's is small)", func(s *Spec) *int { return &s.MicroBatch }),
	intField("global-batch-size", "sequences per optimizer step, over every replica (Megatron: micro-batch × data-parallel; bloom's default is small)", func(s *Spec) *int { return &s.GlobalBatch }),
	intField("seq-length", "tokens per sequence (Megatron has no default; bloom's is small for training, and generate and serve jobs take 2048, evaluate jobs 1024, as the local commands)", func(s *Spec) *int { return &s.SeqLength }),
	floatField("lr", "peak learning rate (Megatron has no default; bloom's suits bloom-tiny)", func(s *Spec) *float64 { return &s.LR }),
	floatField("min-lr", "learning rate at the end of the decay", func(s *Spec) *float64 { return &s.MinLR }),
	stringField("lr-decay-style", "cosine, linear or constant", func(s *Spec) *string { return &s.LRDecayStyle }),
	int64Field("lr-warmup-samples", "samples of linear warmup", func(s *Spec) *int64 { return &s.LRWarmupSamples }),
	int64Field("lr-decay-samples", "samples until --min-lr (0 = the whole run)", func(s *Spec) *int64 { return &s.LRDecaySamples }),
	floatField("weight-decay", "AdamW weight decay (off for biases and layer norms)", func(s *Spec) *float64 { return &s.WeightDecay }),
	floatField("clip-grad", "clip the global gradient norm to this (0 = off)", func(s *Spec) *float64 { return &s.ClipGrad }),
	floatField("adam-beta1", "Adam β1", func(s *Spec) *float64 { return &s.AdamBeta1 }),
	floatField("adam-beta2", "Adam β2 (AscendSpeed's BLOOM scripts pass 0.95)", func(s *Spec) *float64 { return &s.AdamBeta2 }),
	floatField("adam-eps", "Adam ε", func(s *Spec) *float64 { return &s.AdamEps }),
	floatField("init-method-std", "std of the random initial weights (the blocks' output projections get std/√(2·layers), as Megatron-DeepSpeed initializes them)", func(s *Spec) *float64 { return &s.InitMethodStd }),
	{Name: "seed", Usage: "seed of the initial weights and the sample order",
		set: func(s *Spec, v string) error {
			n, err := strconv.ParseUint(v, 10, 64)
			if err != nil {
				return fmt.Errorf("want a non-negative integer, got %q", v)
			}
			s.Seed = n
			return nil
		},
		get: func(s *Spec) string { return strconv.FormatUint(s.Seed, 10) }},
	int64Field("train-samples", "run length in samples (or --train-iters)", func(s *Spec) *int64 { return &s.TrainSamples }),
	int64Field("train-iters", "run length in optimizer steps (or --train-samples)", func(s *Spec) *int64 { return &s.TrainIters }),
	stringField("data-path", "Megatron dataset prefix (PREFIX.bin/.idx) on every node; empty = the embedded byte-level corpus", func(s *Spec) *string { return &s.DataPath }),
	stringField("split", "train/valid/test split of --data-path, Megatron's --split", func(s *Spec) *string { return &s.Split }),
	boolField("is-instruction-dataset", "--data-path is instruction data (PREFIX_packed_*_document from preprocess --format alpaca): a record per sample, the loss on the response only", func(s *Spec) *bool { return &s.InstructionDataset }),
	stringField("tokenizer-name-or-path", "tokenizer.json the data was made with (recorded with the job)", func(s *Spec) *string { return &s.TokenizerNameOrPath }),
	intField("save-interval", "write a checkpoint every N steps (0 = at the end only)", func(s *Spec) *int { return &s.SaveInterval }),
	stringField("save", "checkpoint directory on each node (default: the node's data dir)", func(s *Spec) *string { return &s.Save }),
	intField("keep-last", "keep the newest N committed checkpoints and delete older ones on every node (0 = keep all)", func(s *Spec) *int { return &s.KeepLast }),
	intField("keep-every", "with --keep-last, also keep every checkpoint whose step is a multiple of K (milestones)", func(s *Spec) *int { return &s.KeepEvery }),
	stringField("load", "start from this Hugging Face model directory or native checkpoint (full fine-tuning; with --lora-target-modules, the frozen base)", func(s *Spec) *string { return &s.Load }),
	{Name: "lora-target-modules", List: true, Usage: "LoRA fine-tuning: adapt these linears of every block, e.g. query_key_value,dense (the seed's tune_bloom_7b1.sh; also dense_h_to_4h, dense_4h_to_h); the rest is frozen",
		set: func(s *Spec, v string) error {
			if v != "" {
				s.LoRATargetModules = append(s.LoRATargetModules, v)
			}
			return nil
		},
		get:   func(s *Spec) string { return strings.Join(s.LoRATargetModules, ",") },
		reset: func(s *Spec) { s.LoRATargetModules = nil }},
	intField("lora-r", "LoRA rank (0: 16, the seed's)", func(s *Spec) *int { return &s.LoRAR }),
	floatField("lora-alpha", "LoRA scaling numerator: adapters add (alpha/r)·B·A·x (0: 32, the seed's)", func(s *Spec) *float64 { return &s.LoRAAlpha }),
	boolField("fp16", "mixed precision as the seed's Bloom-7B: fp16 matrix products, fp32 master weights, dynamic loss scaling (generate, evaluate, serve: fp16 products, as the seed runs them)", func(s *Spec) *bool { return &s.FP16 }),
	boolField("bf16", "mixed precision as the seed's Bloom-176B: bf16 matrix products, fp32 master weights and gradients (generate, evaluate, serve: bf16 products)", func(s *Spec) *bool { return &s.BF16 }),
	floatField("initial-loss-scale", "--fp16: the first loss scale, a power of two (0: 4096 = 2^12, the seed's)", func(s *Spec) *float64 { return &s.InitialLossScale }),
	intField("loss-scale-window", "--fp16: clean steps before the loss scale doubles (0: 500, the seed's)", func(s *Spec) *int { return &s.LossScaleWindow }),
	intField("hysteresis", "--fp16: overflows it takes to halve the loss scale under ZeRO's rule (0: 2, the seed's)", func(s *Spec) *int { return &s.Hysteresis }),
	floatField("min-loss-scale", "--fp16: the loss scale's floor (0: 1, the seed's)", func(s *Spec) *float64 { return &s.MinLossScale }),
	{Name: "zero-stage", Usage: "DeepSpeed ZeRO stage whose fp16 loss-scale rule to follow: 0 = FP16_Optimizer (the seed's; no hysteresis), 1-3 = DynamicLossScaler (default 1); no optimizer state is sharded",
		set: func(s *Spec, v string) error {
			n, err := strconv.Atoi(v)
			if err != nil {
				return fmt.Errorf("want 0, 1, 2 or 3, got %q", v)
			}
			s.ZeroStage = &n
			return nil
		},
		get: func(s *Spec) string {
			if s.ZeroStage == nil {
				return "1"
			}
			return strconv.Itoa(*s.ZeroStage)
		}},
	{Name: "prompt", List: true, Raw: true, Usage: "generate: a text prompt (give it again for more; a job file's prompt: is a list)",
		set: func(s *Spec, v string) error {
			if v != "" {
				s.Prompts = append(s.Prompts, v)
			}
			return nil
		},
		get:   func(s *Spec) string { return strings.Join(s.Prompts, "\n") },
		reset: func(s *Spec) { s.Prompts = nil }},
	intField("max-new-tokens", "generate: new tokens per prompt (0: 32)", func(s *Spec) *int { return &s.MaxNewTokens }),
	floatField("temperature", "generate: sample at this temperature (0: greedy)", func(s *Spec) *float64 { return &s.Temperature }),
	intField("top-k", "generate: sample among the k likeliest tokens (0: all)", func(s *Spec) *int { return &s.TopK }),
	floatField("top-p", "generate: sample among the likeliest tokens whose probability reaches p (0: 1, all)", func(s *Spec) *float64 { return &s.TopP }),
	stringField("task", "evaluate: boolq or mmlu", func(s *Spec) *string { return &s.Task }),
	stringField("task-data-path", "evaluate: the task's data on every node (BoolQ JSON lines; MMLU's directory or *_test.csv)", func(s *Spec) *string { return &s.TaskDataPath }),
	intField("limit", "evaluate: the first N questions (0: all)", func(s *Spec) *int { return &s.Limit }),
	intField("max-batch", "serve: requests decoded together (0: 8)", func(s *Spec) *int { return &s.MaxBatch }),
	intField("kv-cache-tokens", "serve: positions the key/value cache holds, all requests together, in blocks of 16; a request reserves its prompt and max_tokens when it joins (0: max-batch × seq-length)", func(s *Spec) *int { return &s.KVCacheTokens }),
	stringField("kv-cache-dtype", "serve: the key/value cache's type: fp32, fp16 or bf16 (empty: fp32); a half type halves the cache's memory and the bytes each decoding step reads from it, its keys and values rounded as they enter it (devices that attend over half values in place: the CPU device)", func(s *Spec) *string { return &s.KVCacheDType }),
	boolField("no-pack-weights", "generate, evaluate: keep the weights once, without the copy laid out for the matrix products (in their type under --fp16/--bf16) that makes decoding 2-5x faster", func(s *Spec) *bool { return &s.NoPackWeights }),
	intField("prefill-chunk", "serve: prompt tokens of joining requests prefilled per step while others decode (0: 128)", func(s *Spec) *int { return &s.PrefillChunk }),
	intField("log-interval", "report every N steps", func(s *Spec) *int { return &s.LogInterval }),
	floatField("device-peak-tflops", "one device's peak TFLOPs, for the MFU each step reports (0: measured when the rank starts, a float32 matrix product on its device; Ascend 910's fp16 peak is 256)", func(s *Spec) *float64 { return &s.DevicePeakTFLOPs }),
	intField("max-restarts", "restart a failed attempt from the last committed checkpoint this many times", func(s *Spec) *int { return &s.MaxRestarts }),
	intField("min-nodes", "after losing a node for --node-grace, run on as few as N nodes with fewer data-parallel replicas and the same global batch (0 = wait for the node)", func(s *Spec) *int { return &s.MinNodes }),
	intField("node-grace", "seconds a job waits for a lost node to come back before it is re-planned without it (--min-nodes)", func(s *Spec) *int { return &s.NodeGrace }),
}

// Fields lists the settings a job file or `bloomctl submit pretrain`
// accepts (besides name and config).
func Fields() []Field { return append(append([]Field(nil), allFields...), seedFields...) }

func lookupField(key string) (Field, bool) {
	k := strings.ReplaceAll(strings.TrimLeft(key, "-"), "_", "-")
	for _, f := range Fields() {
		if f.Name == k || slices.ContainsFunc(f.Aliases, func(a string) bool { return strings.ReplaceAll(a, "_", "-") == k }) {
			return f, true
		}
	}
	return Field{}, false
}

// Set sets the field named key (a Megatron flag name; dashes or
// underscores) from its text values: one for a scalar, any number for a
// list (each may itself be "a,b").
func (s *Spec) Set(key string, values ...string) error {
	f, ok := lookupField(key)
	if !ok {
		return fmt.Errorf("%w: unknown setting %q%s", ErrInvalid, key, suggestField(key))
	}
	if !f.List && len(values) != 1 {
		return fmt.Errorf("%w: %s takes one value, got %d", ErrInvalid, f.Name, len(values))
	}
	if f.List && !f.Raw {
		var parts []string
		for _, v := range values {
			parts = append(parts, strings.Split(v, ",")...)
		}
		values = parts
	}
	if f.List {
		f.reset(s)
	}
	for _, v := range values {
		if !f.Raw {
			v = strings.TrimSpace(v)
		}
		if err := f.set(s, v); err != nil {
			return fmt.Errorf("%w: --%s: %v", ErrInvalid, f.Name, err)
		}
	}
	return nil
}

// suggestField names the closest known setting, for a typo.
func suggestField(key string) string {
	k := strings.ReplaceAll(strings.TrimLeft(key, "-"), "_", "-")
	var names []string
	for _, f := range Fields() {
		names = append(names, f.Name)
	}
	sort.Strings(names)
	if best := suggest.Nearest(k, names); best != "" {
		return fmt.Sprintf(" (did you mean %s?)", best)
	}
	return " (see `bloomctl submit pretrain --help` for the list)"
}
