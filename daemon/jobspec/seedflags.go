package jobspec

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"sort"
	"strconv"
	"strings"

	"bloom/trainer/bloom"
)

// The rest of the seed's Megatron flags (AscendSpeed's BLOOM scripts): the
// model's shape from flags, and flags that mean nothing to change here,
// accepted with a note of what they mean (Field.Note), so the seed's
// scripts run as they are.

// shapeField sets one number of the model's shape (Spec.Model).
func shapeField(name, usage string, p func(*bloom.Config) *int) Field {
	return Field{Name: name, Usage: usage,
		set: func(s *Spec, v string) error {
			n, err := strconv.Atoi(strings.ReplaceAll(v, "_", ""))
			if err != nil || n < 1 {
				return fmt.Errorf("want a positive integer, got %q", v)
			}
			*p(s.shape()) = n
			return nil
		},
		get: func(s *Spec) string {
			if s.Model == nil || *p(s.Model) == 0 {
				return ""
			}
			return strconv.Itoa(*p(s.Model))
		}}
}

// shape is the model shape the flags build, allocated on first use.
func (s *Spec) shape() *bloom.Config {
	if s.Model == nil {
		s.Model = &bloom.Config{}
	}
	return s.Model
}

// noteField is a switch accepted as it stands: note says what it means
// here.
func noteField(name, note string) Field {
	return Field{Name: name, Usage: note, Note: note, Bool: true,
		set: func(s *Spec, v string) error {
			if _, err := strconv.ParseBool(v); err != nil {
				return fmt.Errorf("want true or false, got %q", v)
			}
			return nil
		},
		get: func(s *Spec) string { return "" }}
}

// choiceField is a flag whose only value here is one of choices (any,
// when choices is empty): note says what it means.
func choiceField(name, note string, choices ...string) Field {
	usage := note
	if len(choices) > 0 {
		usage = fmt.Sprintf("%s (only %s)", note, strings.Join(choices, ", "))
	}
	return Field{Name: name, Usage: usage, Note: note,
		set: func(s *Spec, v string) error {
			for _, c := range choices {
				if strings.EqualFold(v, c) {
					return nil
				}
			}
			if len(choices) == 0 {
				return nil
			}
			return fmt.Errorf("%q is not supported: %s", v, usage)
		},
		get: func(s *Spec) string { return "" }}
}

// refusedField is a flag of the seed's not implemented yet: any value but
// off (off, when given) is refused with why.
func refusedField(name, off, why string) Field {
	return Field{Name: name, Usage: "not implemented yet: " + why,
		set: func(s *Spec, v string) error {
			if off != "" && strings.TrimSpace(v) == off {
				return nil
			}
			return fmt.Errorf("not implemented yet: %s", why)
		},
		get: func(s *Spec) string { return "" }}
}

// seedFields are the seed's flags beyond the training settings: listed
// after them in help.
var seedFields = []Field{
	shapeField("num-layers", "transformer layers; with --hidden-size and --num-attention-heads the model's shape instead of --model-preset", func(c *bloom.Config) *int { return &c.Layers }),
	shapeField("hidden-size", "model width (with --num-layers)", func(c *bloom.Config) *int { return &c.Hidden }),
	shapeField("num-attention-heads", "attention heads (with --num-layers)", func(c *bloom.Config) *int { return &c.Heads }),
	shapeField("pad-vocab-size-to", "word-embedding rows: the tokenizer's vocabulary padded (BLOOM: 250880; the default with --num-layers)", func(c *bloom.Config) *int { return &c.Vocab }),
	{Name: "layernorm-epsilon", Usage: "layer norms' epsilon (default 1e-5)",
		set: func(s *Spec, v string) error {
			f, err := strconv.ParseFloat(v, 32)
			if err != nil || f <= 0 {
				return fmt.Errorf("want a positive number, got %q", v)
			}
			s.shape().Eps = float32(f)
			return nil
		},
		get: func(s *Spec) string {
			if s.Model == nil || s.Model.Eps == 0 {
				return ""
			}
			return strconv.FormatFloat(float64(s.Model.Eps), 'g', -1, 32)
		}},
	intField("max-position-embeddings", "positions a sequence may have (ALiBi has no position table: only checked against --seq-length, as Megatron does)", func(s *Spec) *int { return &s.MaxPositionEmbeddings }),
	choiceField("position-embedding-type", "BLOOM's ALiBi", "alibi"),
	choiceField("normalization", "layer norm", "LayerNorm"),
	choiceField("optimizer", "Adam with decoupled weight decay (Megatron's adam with --weight-decay)", "adam"),
	choiceField("data-impl", "Megatron's memory-mapped indexed dataset (.bin/.idx)", "mmap"),
	choiceField("distributed-backend", "ranks communicate through bloom's own collective (an HCCL-compatible ring over shared memory and QUIC), whatever the name"),
	choiceField("tokenizer-type", "the tokenizer is --tokenizer-name-or-path's tokenizer.json (Hugging Face's format), whatever the type"),
	noteField("embed-layernorm", "as built: BLOOM normalizes its word embeddings"),
	noteField("no-add-gate", "as built: BLOOM's MLP is GELU without a gate"),
	noteField("add-bias-linear", "as built: BLOOM's linears have biases"),
	noteField("query-key-layer-scaling", "no effect: attention scores and their softmax are float32 here, where Megatron's 1/layer scaling changes nothing"),
	noteField("no-attention-softmax-in-fp32", "no effect: the attention softmax runs in float32 here (the precision table in trainer/bloom)"),
	noteField("no-untie-embeddings-and-output-weights", "as built: BLOOM's output layer is its word embeddings"),
	noteField("sequence-parallel", "accepted: activations are not split along the sequence here (the same math; the memory of tensor parallelism alone)"),
	noteField("deepspeed", "accepted: bloom is its own engine; DeepSpeed's settings map to --zero-stage, --fp16's loss scaler and --deepspeed-config"),
	noteField("use-flash-attn", "accepted: the device's own attention kernel runs (the same math)"),
	noteField("square-alibi-mask", "accepted: the ALiBi bias is built per batch (the same math)"),
	boolField("checkpoint-activations", "activation checkpointing: keep each block's output only and recompute the block in backward (bit-identical; less memory, about a third more compute)", func(s *Spec) *bool { return &s.CheckpointActivations }),
	noteField("deepspeed-activation-checkpointing", "accepted: with --checkpoint-activations bloom recomputes the blocks itself"),
	noteField("use-manual-layer-allocation", "accepted: --manual-layers (bloom's --partition-layers) gives the stages' layers"),
	{Name: "deepspeed-config", Aliases: []string{"deepspeed_config"},
		Usage: "a DeepSpeed JSON `FILE`: batch sizes, gradient clipping, ZeRO stage, fp16 (dynamic loss scaler) or bf16 become the settings of the same meaning; flags given beside it win",
		set:   func(s *Spec, v string) error { return s.applyDeepSpeed(v) },
		get:   func(s *Spec) string { return "" }},
	stringField("tensorboard-dir", "write TensorBoard event files here (on the node of the last rank, which holds the loss) with Megatron's tags, each also vs samples and vs tokens", func(s *Spec) *string { return &s.TensorBoardDir }),
	boolField("log-timers-to-tensorboard", "TensorBoard: also iteration time, samples/s, tokens/s (per replica too) and TFLOPs per device", func(s *Spec) *bool { return &s.LogTimersToTensorboard }),
	boolField("log-batch-size-to-tensorboard", "TensorBoard: also the batch size", func(s *Spec) *bool { return &s.LogBatchSizeToTensorboard }),
	boolField("log-validation-ppl-to-tensorboard", "TensorBoard: also the validation perplexity (with --eval-iters)", func(s *Spec) *bool { return &s.LogValidationPPLToTensorboard }),
	choiceField("tensorboard-queue-size", "accepted: events are flushed after every step"),
	choiceField("tensorboard-log-interval", "every step is written", "1"),
	{Name: "rampup-batch-size", List: true, Usage: "START INCREMENT SAMPLES: the global batch starts at START and grows by INCREMENT in equal shares of the first SAMPLES samples, as BLOOM trained (192 16 9_765_625); --train-samples then counts steps as Megatron does",
		set: func(s *Spec, v string) error {
			n, err := strconv.ParseInt(strings.ReplaceAll(v, "_", ""), 10, 64)
			if err != nil || n < 1 {
				return fmt.Errorf("want three positive integers (START INCREMENT SAMPLES), got %q", v)
			}
			s.RampupBatchSize = append(s.RampupBatchSize, n)
			return nil
		},
		get: func(s *Spec) string {
			out := make([]string, len(s.RampupBatchSize))
			for i, n := range s.RampupBatchSize {
				out[i] = strconv.FormatInt(n, 10)
			}
			return strings.Join(out, ",")
		},
		reset: func(s *Spec) { s.RampupBatchSize = s.RampupBatchSize[:0] }},
	intField("eval-interval", "validate after every N steps, and once more at the end of training, as Megatron does (with --eval-iters)", func(s *Spec) *int { return &s.EvalInterval }),
	intField("eval-iters", "validation: the mean loss (and perplexity) of N global batches of the split's validation part, forward only (0: none; needs --data-path)", func(s *Spec) *int { return &s.EvalIters }),
}

// applyDeepSpeed sets what a DeepSpeed config file says, as DeepSpeed's
// engine means it; a setting bloom has no equivalent for is refused.
func (s *Spec) applyDeepSpeed(path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var ds map[string]json.RawMessage
	if err := json.Unmarshal(b, &ds); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	num := func(key string, raw json.RawMessage) (float64, error) {
		var f float64
		if err := json.Unmarshal(raw, &f); err != nil {
			return 0, fmt.Errorf("%s: %s: want a number, got %s", path, key, raw)
		}
		return f, nil
	}
	keys := make([]string, 0, len(ds))
	for k := range ds {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		raw := ds[k]
		switch k {
		case "train_micro_batch_size_per_gpu", "train_batch_size", "gradient_clipping":
			f, err := num(k, raw)
			if err != nil {
				return err
			}
			switch k {
			case "train_micro_batch_size_per_gpu":
				s.MicroBatch = int(f)
			case "train_batch_size":
				s.GlobalBatch = int(f)
			default:
				s.ClipGrad = f
			}
		case "zero_optimization":
			var z map[string]json.RawMessage
			if err := json.Unmarshal(raw, &z); err != nil {
				return fmt.Errorf("%s: %s: %w", path, k, err)
			}
			for zk, zv := range z {
				if zk != "stage" {
					return fmt.Errorf("%s: zero_optimization.%s is not supported (only stage, which picks the fp16 loss scaler's rule)", path, zk)
				}
				f, err := num("zero_optimization.stage", zv)
				if err != nil {
					return err
				}
				n := int(f)
				s.ZeroStage = &n
			}
		case "fp16":
			if err := s.deepSpeedFP16(path, raw); err != nil {
				return err
			}
		case "bf16":
			var bf struct{ Enabled bool }
			if err := json.Unmarshal(raw, &bf); err != nil {
				return fmt.Errorf("%s: bf16: %w", path, err)
			}
			s.BF16 = bf.Enabled
		case "steps_per_print", "wall_clock_breakdown", "gradient_accumulation_steps":
			// Printing and timers; accumulation follows from the batches.
		default:
			return fmt.Errorf("%s: DeepSpeed setting %q has no equivalent here (understood: train_micro_batch_size_per_gpu, train_batch_size, gradient_clipping, zero_optimization.stage, fp16, bf16)", path, k)
		}
	}
	return nil
}

// deepSpeedFP16 is DeepSpeed's fp16 section: loss_scale 0 is the dynamic
// scaler, starting at 2^initial_scale_power.
func (s *Spec) deepSpeedFP16(path string, raw json.RawMessage) error {
	var f struct {
		Enabled           bool     `json:"enabled"`
		LossScale         float64  `json:"loss_scale"`
		LossScaleWindow   *int     `json:"loss_scale_window"`
		Hysteresis        *int     `json:"hysteresis"`
		MinLossScale      *float64 `json:"min_loss_scale"`
		InitialScalePower *int     `json:"initial_scale_power"`
	}
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return fmt.Errorf("%s: fp16: %w", path, err)
	}
	if f.LossScale != 0 {
		return fmt.Errorf("%s: fp16.loss_scale %g: a static loss scale is not supported (0: the dynamic scaler)", path, f.LossScale)
	}
	if s.FP16 = f.Enabled; !f.Enabled {
		return nil
	}
	if f.InitialScalePower != nil {
		s.InitialLossScale = math.Ldexp(1, *f.InitialScalePower)
	}
	if f.LossScaleWindow != nil {
		s.LossScaleWindow = *f.LossScaleWindow
	}
	if f.Hysteresis != nil {
		s.Hysteresis = *f.Hysteresis
	}
	if f.MinLossScale != nil {
		s.MinLossScale = *f.MinLossScale
	}
	return nil
}
