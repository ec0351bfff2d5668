package jobspec

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"bloom/trainer/bloom"
)

// ErrInvalid wraps every job-spec error: a user's mistake, with a message
// that says what to change.
var ErrInvalid = errors.New("job spec")

// Job kinds: Megatron-style pretraining (and fine-tuning), and inference
// across the same tensor- and pipeline-parallel placement: generation
// from prompts, evaluation on BoolQ or MMLU.
const (
	KindPretrain = "pretrain"
	KindGenerate = "generate"
	KindEvaluate = "evaluate"
	KindServe    = "serve"
)

// Spec is a training job in Megatron's terms. Its JSON form is what Raft
// stores as the job's spec (coord.Job.Spec) and what every worker reads;
// files and flags use the seed's Megatron flag names (fields.go).
type Spec struct {
	Kind string `json:"kind"`

	// The model: a preset name, or the shape from a config.json.
	ModelPreset   string        `json:"model_preset,omitempty"`
	Model         *bloom.Config `json:"model,omitempty"` // the shape only: LoRA is set by the fields below
	InitMethodStd float64       `json:"init_method_std"`

	// Parallel layout. DataParallel 0 means: as many replicas as the
	// cluster's devices allow, and the batch divides by (resolved at submit).
	TensorParallel   int   `json:"tensor_model_parallel_size"`
	PipelineParallel int   `json:"pipeline_model_parallel_size"`
	DataParallel     int   `json:"data_parallel_size"`
	PartitionLayers  []int `json:"partition_layers,omitempty"` // layers per pipeline stage

	MicroBatch  int `json:"micro_batch_size"`
	GlobalBatch int `json:"global_batch_size"`
	SeqLength   int `json:"seq_length"`

	LR              float64 `json:"lr"`
	MinLR           float64 `json:"min_lr"`
	LRDecayStyle    string  `json:"lr_decay_style"`
	LRWarmupSamples int64   `json:"lr_warmup_samples"`
	LRDecaySamples  int64   `json:"lr_decay_samples"` // 0 = the whole run
	WeightDecay     float64 `json:"weight_decay"`
	ClipGrad        float64 `json:"clip_grad"`
	AdamBeta1       float64 `json:"adam_beta1"`
	AdamBeta2       float64 `json:"adam_beta2"`
	AdamEps         float64 `json:"adam_eps"`
	Seed            uint64  `json:"seed"`

	// Length: exactly one of the two.
	TrainSamples int64 `json:"train_samples,omitempty"`
	TrainIters   int64 `json:"train_iters,omitempty"`

	// Data: a Megatron dataset prefix (.bin/.idx), or empty for the embedded
	// byte-level demo corpus.
	DataPath string `json:"data_path,omitempty"`
	Split    string `json:"split"`
	// InstructionDataset: DataPath is the prefix of instruction data in
	// AscendSpeed's packed format (preprocess --format alpaca): one record
	// per sample, right-padded, the loss on the response only.
	InstructionDataset  bool   `json:"is_instruction_dataset,omitempty"`
	TokenizerNameOrPath string `json:"tokenizer_name_or_path,omitempty"`

	// Checkpoints: every SaveInterval steps (0 = at the end only, when Save
	// is set) into Save on each node (empty: the node's data dir). Load is a
	// Hugging Face directory or native checkpoint to start from.
	SaveInterval int    `json:"save_interval"`
	Save         string `json:"save,omitempty"`
	Load         string `json:"load,omitempty"`
	// Retention: keep the newest KeepLast committed checkpoints and every
	// step divisible by KeepEvery; delete the others on every node holding
	// copies (0: keep all). The newest and the one a running attempt
	// resumed from are never deleted.
	KeepLast  int `json:"keep_last,omitempty"`
	KeepEvery int `json:"keep_every,omitempty"`

	// LoRA fine-tuning (the seed's tune_bloom_7b1.sh): adapters on these
	// linears of every block, the rest frozen; none = every weight trains.
	// Rank and alpha 0 take the seed's 16 and 32. All omitted when unset,
	// so a spec without LoRA reads the same to a bloomd that predates it.
	LoRATargetModules []string `json:"lora_target_modules,omitempty"`
	LoRAR             int      `json:"lora_r,omitempty"`
	LoRAAlpha         float64  `json:"lora_alpha,omitempty"`

	// Precision (the seed's --fp16 for Bloom-7B, --bf16 for Bloom-176B;
	// neither trains in fp32): half-precision matrix products over fp32
	// master weights (trainer/bloom's precision table).
	FP16 bool `json:"fp16,omitempty"`
	BF16 bool `json:"bf16,omitempty"`
	// The fp16 dynamic loss scaler; 0 takes the seed's value (its
	// DeepSpeed JSON: initial scale 2^12, window 500, hysteresis 2,
	// minimum 1). ZeroStage is --zero-stage, which picks the DeepSpeed
	// optimizer wrapper whose scale rule --fp16 follows (0: FP16_Optimizer,
	// as the seed runs; 1-3: ZeRO's DynamicLossScaler; nil: 1, Megatron-
	// DeepSpeed's default). bloom shards no optimizer state at any stage.
	InitialLossScale float64 `json:"initial_loss_scale,omitempty"`
	LossScaleWindow  int     `json:"loss_scale_window,omitempty"`
	Hysteresis       int     `json:"hysteresis,omitempty"`
	MinLossScale     float64 `json:"min_loss_scale,omitempty"`
	ZeroStage        *int    `json:"zero_stage,omitempty"`

	// Inference (generate and evaluate jobs): the model is --load, run on
	// one data-parallel replica, MicroBatch rows at a time, prompts cut to
	// SeqLength less the new tokens. Generation: Prompts (text, through
	// --tokenizer-name-or-path or the model's tokenizer.json), MaxNewTokens
	// (0: 32), greedy, or sampled when Temperature > 0 (TopK 0: no limit;
	// TopP 0: 1; Seed). Evaluation: Task (boolq or mmlu) on TaskDataPath
	// (on every node), the first Limit questions (0: all).
	Prompts      []string `json:"prompts,omitempty"`
	MaxNewTokens int      `json:"max_new_tokens,omitempty"`
	Temperature  float64  `json:"temperature,omitempty"`
	TopK         int      `json:"top_k,omitempty"`
	TopP         float64  `json:"top_p,omitempty"`
	Task         string   `json:"task,omitempty"`
	TaskDataPath string   `json:"task_data_path,omitempty"`
	Limit        int      `json:"limit,omitempty"`
	// MaxBatch is a serve job's batch: requests decoded together (0: 8);
	// SeqLength is its context.
	MaxBatch int `json:"max_batch,omitempty"`
	// KVCacheTokens is the positions a serve job's key/value cache holds,
	// all requests together (0: MaxBatch × SeqLength); PrefillChunk the
	// prompt tokens prefilled per step while rows run (0: 128).
	KVCacheTokens int `json:"kv_cache_tokens,omitempty"`
	// KVCacheDType is the type a serve job's key/value cache holds: fp32
	// (""), fp16 or bf16 (see trainer.BatchShape).
	KVCacheDType string `json:"kv_cache_dtype,omitempty"`
	// NoPackWeights keeps a generate or evaluate job's weights once: its
	// ranks do not also keep a copy laid out for the products
	// (bloom.Model.PackWeights), decoding more slowly in less memory.
	NoPackWeights bool `json:"no_pack_weights,omitempty"`
	// MaxPositionEmbeddings is Megatron's --max-position-embeddings: with
	// ALiBi only a bound on SeqLength (0: none).
	MaxPositionEmbeddings int `json:"max_position_embeddings,omitempty"`
	// DevicePeakTFLOPs is one device's peak, for the model FLOPs
	// utilization the steps report (0: measured at the start, a float32
	// matrix product on the device).
	DevicePeakTFLOPs float64 `json:"device_peak_tflops,omitempty"`
	// TensorBoardDir is Megatron's --tensorboard-dir: the last rank (it
	// holds the loss) writes event files there on its node, with
	// Megatron's tags; the Log... switches add its optional scalars.
	// CheckpointActivations is --checkpoint-activations: each block's
	// activations are recomputed in backward instead of kept.
	CheckpointActivations bool `json:"checkpoint_activations,omitempty"`
	// EvalInterval and EvalIters are --eval-interval and --eval-iters.
	EvalInterval int `json:"eval_interval,omitempty"`
	EvalIters    int `json:"eval_iters,omitempty"`
	// RampupBatchSize is --rampup-batch-size START INCREMENT SAMPLES.
	RampupBatchSize               []int64 `json:"rampup_batch_size,omitempty"`
	TensorBoardDir                string  `json:"tensorboard_dir,omitempty"`
	LogTimersToTensorboard        bool    `json:"log_timers_to_tensorboard,omitempty"`
	LogBatchSizeToTensorboard     bool    `json:"log_batch_size_to_tensorboard,omitempty"`
	LogValidationPPLToTensorboard bool    `json:"log_validation_ppl_to_tensorboard,omitempty"`
	PrefillChunk                  int     `json:"prefill_chunk,omitempty"`

	LogInterval int `json:"log_interval"`
	MaxRestarts int `json:"max_restarts"`
	// MinNodes lets a job that lost a node for longer than NodeGrace
	// seconds run again on fewer nodes, with fewer data-parallel replicas
	// and more gradient accumulation (the global batch, hence the math,
	// unchanged), as long as at least MinNodes nodes take part. 0: never
	// shrink, wait for the node.
	MinNodes  int `json:"min_nodes,omitempty"`
	NodeGrace int `json:"node_grace"`
}

// Default is what every setting not given takes, for `bloomctl submit
// pretrain`, job files and `bloomctl train --local` alike. Where Megatron's
// argparse has a default (AscendSpeed's megatron/arguments.py, which the
// seed runs), it is that one: Adam β1 0.9, β2 0.999, ε 1e-8, weight decay
// 0.01, clip-grad 1.0, init-method-std 0.02, seed 1234, linear LR decay to
// min-lr 0, no warmup, split 969,30,1. The seed's BLOOM scripts pass their
// own values (β2 0.95, weight decay 0.1, seed 42, cosine...) as flags, and
// so do job files carried over from them. Where Megatron has none (lr, the
// batch sizes, seq-length) the values are small ones that train bloom-tiny
// on a CPU; bloom's own settings (log-interval 1: progress every step,
// node-grace 60 s) are its own. The run's length has no default.
func Default() Spec {
	return Spec{Kind: KindPretrain, InitMethodStd: 0.02, TensorParallel: 1, PipelineParallel: 1,
		MicroBatch: 4, GlobalBatch: 8, SeqLength: 64, LR: 3e-3, MinLR: 0, LRDecayStyle: "linear",
		WeightDecay: 0.01, ClipGrad: 1, AdamBeta1: 0.9, AdamBeta2: 0.999, AdamEps: 1e-8, Seed: 1234,
		Split: "969,30,1", LogInterval: 1, NodeGrace: 60}
}

// DefaultFor is Default for a job of kind: an inference job's context
// (SeqLength) is its local command's — 2048 positions for generate and
// serve, 1024 for evaluate — not a training run's 64, which would cut most
// prompts.
func DefaultFor(kind string) Spec {
	s := Default()
	s.Kind = kind
	switch kind {
	case KindGenerate, KindServe:
		s.SeqLength = 2048
	case KindEvaluate:
		s.SeqLength = 1024
	}
	return s
}

// Inference reports whether the job runs a trained model rather than
// training one.
func (s *Spec) Inference() bool {
	return s.Kind == KindGenerate || s.Kind == KindEvaluate || s.Kind == KindServe
}

// DecaySamples is the number of samples over which the learning rate
// decays to MinLR: LRDecaySamples, or when that is 0 --train-samples (as
// Megatron defaults it), or a run of --train-iters full global batches.
// (Steps × global batch had overshot train-samples under a batch-size
// rampup, whose steps are smaller: 225,974,272 samples for the seed's
// 220,000,000, the lr ending above its floor.)
func (s *Spec) DecaySamples() int64 {
	switch {
	case s.LRDecaySamples > 0:
		return s.LRDecaySamples
	case s.TrainSamples > 0:
		return s.TrainSamples
	}
	return s.Steps() * int64(s.GlobalBatch)
}

// LoRA is the adapters the spec asks for: none without
// --lora-target-modules; a rank or alpha of 0 takes the seed's 16 and 32.
func (s *Spec) LoRA() (bloom.LoRA, error) {
	if len(s.LoRATargetModules) == 0 {
		return bloom.LoRA{}, nil
	}
	t, err := bloom.ParseLoRATargets(s.LoRATargetModules)
	if err != nil {
		return bloom.LoRA{}, fmt.Errorf("%w: --lora-target-modules: %v", ErrInvalid, err)
	}
	return bloom.LoRA{R: cmp.Or(s.LoRAR, 16), Alpha: float32(cmp.Or(s.LoRAAlpha, 32)), Targets: t}, nil
}

// ModelConfig is the model's shape, from the preset or the config, with
// the LoRA adapters if any.
func (s *Spec) ModelConfig() (bloom.Config, error) {
	c, err := s.baseModel()
	if err != nil || len(s.LoRATargetModules) == 0 {
		return c, err
	}
	if c.LoRA, err = s.LoRA(); err != nil {
		return c, err
	}
	if err := c.Validate(); err != nil {
		return c, fmt.Errorf("%w: --lora-r/--lora-alpha: %v", ErrInvalid, err)
	}
	return c, nil
}

func (s *Spec) baseModel() (bloom.Config, error) {
	switch {
	case s.ModelPreset != "" && s.Model != nil:
		return bloom.Config{}, fmt.Errorf("%w: give --model-preset, or the shape (a config.json, or --num-layers, --hidden-size and --num-attention-heads), not both", ErrInvalid)
	case s.Model != nil:
		c := *s.Model
		if c.Vocab == 0 {
			c.Vocab = 250880 // the seed's --pad-vocab-size-to
		}
		if c.LoRA != (bloom.LoRA{}) {
			return c, fmt.Errorf("%w: the model's shape takes no LoRA settings: give them as --lora-target-modules, --lora-r and --lora-alpha", ErrInvalid)
		}
		if c.Eps == 0 {
			c.Eps = 1e-5
		}
		if err := c.Validate(); err != nil {
			return c, fmt.Errorf("%w: config.json: %v", ErrInvalid, err)
		}
		return c, nil
	case s.ModelPreset != "":
		c, err := bloom.Preset(s.ModelPreset)
		if err != nil {
			return c, fmt.Errorf("%w: --model-preset: %v", ErrInvalid, err)
		}
		return c, nil
	}
	return bloom.Config{}, fmt.Errorf("%w: no model: give --model-preset (one of %v) or a config.json", ErrInvalid, bloom.PresetNames())
}

// Steps is the run's length in optimizer steps.
func (s *Spec) Steps() int64 {
	if s.TrainIters > 0 {
		return s.TrainIters
	}
	if s.GlobalBatch > 0 {
		return s.Rampup().Iterations(s.GlobalBatch, s.TrainSamples)
	}
	return 0
}

// Ranks is TP·PP·DP (DP as resolved; 0 while unresolved).
func (s *Spec) Ranks() int { return s.TensorParallel * s.PipelineParallel * s.DataParallel }

// StageLayers is the number of layers of each pipeline stage:
// --partition-layers, or an even split.
func (s *Spec) StageLayers() ([]int, error) {
	m, err := s.ModelConfig()
	if err != nil {
		return nil, err
	}
	pp := s.PipelineParallel
	if len(s.PartitionLayers) > 0 {
		return append([]int(nil), s.PartitionLayers...), nil
	}
	if pp < 1 || m.Layers%pp != 0 {
		return nil, fmt.Errorf("%w: %d layers do not split evenly over %d pipeline stages: pass --partition-layers (e.g. %s)",
			ErrInvalid, m.Layers, pp, suggestPartition(m.Layers, pp))
	}
	out := make([]int, pp)
	for i := range out {
		out[i] = m.Layers / pp
	}
	return out, nil
}

func suggestPartition(layers, pp int) string {
	if pp < 1 || layers < pp {
		return "fewer stages than layers"
	}
	var b bytes.Buffer
	for i := range pp {
		n := layers / pp
		if i < layers%pp {
			n++
		}
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprint(&b, n)
	}
	return b.String()
}

// Marshal is the spec's JSON, as Raft stores it.
func (s *Spec) Marshal() (json.RawMessage, error) {
	b, err := json.Marshal(s)
	if err != nil {
		return nil, fmt.Errorf("%w: encode: %v", ErrInvalid, err)
	}
	return b, nil
}

// Decode reads a spec as Marshal wrote it (strict: unknown fields
// are an error), then checks it alone (Validate).
func Decode(b []byte) (Spec, error) {
	s, err := Unmarshal(b)
	if err != nil {
		return s, err
	}
	return s, s.Validate()
}

// Unmarshal reads a spec as Marshal wrote it (strict, as Decode) without
// checking it: the API resolves the layout against the cluster first.
func Unmarshal(b []byte) (Spec, error) {
	s := Default()
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&s); err != nil {
		return s, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return s, fmt.Errorf("%w: trailing data after the spec", ErrInvalid)
	}
	return s, nil
}
