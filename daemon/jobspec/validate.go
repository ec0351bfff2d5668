package jobspec

import (
	"errors"
	"fmt"
	"math"
	"strings"

	"bloom/npu"
	"bloom/trainer/data"
)

// Validate checks the spec alone — everything but the devices — and says
// what to change. DataParallel may still be 0 (resolved by ResolveLayout).
func (s *Spec) Validate() error {
	var errs []error
	bad := func(format string, a ...any) {
		errs = append(errs, fmt.Errorf("%w: "+format, append([]any{ErrInvalid}, a...)...))
	}
	switch s.Kind {
	case KindPretrain, KindGenerate, KindEvaluate, KindServe:
	default:
		bad("kind %q: the kinds are %s, %s, %s and %s", s.Kind, KindPretrain, KindGenerate, KindEvaluate, KindServe)
	}
	m, err := s.ModelConfig()
	if err != nil {
		return err // everything below needs the shape
	}
	tp, pp, dp := s.TensorParallel, s.PipelineParallel, s.DataParallel
	if tp < 1 || pp < 1 || dp < 0 || tp > 1024 || pp > 1024 || dp > 1<<14 {
		bad("--tensor-model-parallel-size %d and --pipeline-model-parallel-size %d must be ≥ 1, --data-parallel-size %d ≥ 0 (0 = fill the cluster)", tp, pp, dp)
		return errors.Join(errs...)
	}
	if n := len(s.RampupBatchSize); n != 0 && n != 3 {
		bad("--rampup-batch-size takes three numbers, START INCREMENT SAMPLES (BLOOM's: 192 16 9_765_625), got %d", n)
	} else if n == 3 {
		if err := s.Rampup().Validate(s.GlobalBatch, max(1, s.MicroBatch)); err != nil {
			bad("%v", err)
		}
	}
	if s.EvalIters < 0 || s.EvalInterval < 0 || s.EvalIters > 0 && s.EvalInterval == 0 {
		bad("--eval-iters %d needs a positive --eval-interval (got %d)", s.EvalIters, s.EvalInterval)
	} else if s.EvalIters > 0 && (s.DataPath == "" || s.InstructionDataset) {
		bad("validation (--eval-iters) needs a Megatron dataset (--data-path) whose --split holds out a validation part; the embedded corpus and instruction data have none")
	}
	if s.DevicePeakTFLOPs < 0 {
		bad("--device-peak-tflops must be ≥ 0 (0: measured)")
	}
	if s.MaxPositionEmbeddings < 0 || s.MaxPositionEmbeddings > 0 && s.SeqLength > s.MaxPositionEmbeddings {
		bad("--seq-length (%d) must be at most --max-position-embeddings (%d)", s.SeqLength, s.MaxPositionEmbeddings)
	}
	if m.Heads%tp != 0 {
		bad("%d attention heads do not divide by --tensor-model-parallel-size %d: use a TP that divides %d", m.Heads, tp, m.Heads)
	}
	if m.Hidden%tp != 0 {
		bad("hidden size %d does not divide by --tensor-model-parallel-size %d: use a TP that divides %d", m.Hidden, tp, m.Hidden)
	}
	if m.Vocab%tp != 0 {
		bad("vocabulary %d does not divide by --tensor-model-parallel-size %d (vocab-parallel embedding): use a TP that divides it", m.Vocab, tp)
	}
	if pp > m.Layers {
		bad("--pipeline-model-parallel-size %d is more than the %d layers: every stage needs a layer", pp, m.Layers)
	} else if err := s.checkPartition(m.Layers); err != nil {
		errs = append(errs, err)
	}
	if s.Inference() {
		errs = append(errs, s.checkInference()...)
	} else {
		errs = append(errs, s.checkBatch()...)
		errs = append(errs, s.checkOptimizer()...)
		if set := s.inferenceSettings(); len(set) > 0 {
			bad("a %s job runs no inference: drop %s (for generate, evaluate and serve jobs)", s.Kind, strings.Join(set, ", "))
		}
	}
	if s.MinNodes < 0 || s.NodeGrace < 0 {
		bad("--min-nodes (%d) and --node-grace (%d) must be ≥ 0", s.MinNodes, s.NodeGrace)
	}
	if s.SaveInterval < 0 || s.LogInterval < 1 || s.MaxRestarts < 0 {
		bad("--save-interval (%d) and --max-restarts (%d) must be ≥ 0 and --log-interval (%d) ≥ 1", s.SaveInterval, s.MaxRestarts, s.LogInterval)
	}
	if s.KeepLast < 0 || s.KeepEvery < 0 || s.KeepEvery > 0 && s.KeepLast == 0 {
		bad("--keep-last (%d) and --keep-every (%d) must be ≥ 0, and --keep-every needs --keep-last", s.KeepLast, s.KeepEvery)
	}
	if s.InstructionDataset && s.DataPath == "" {
		bad("--is-instruction-dataset needs --data-path: the prefix preprocess --format alpaca wrote (PREFIX_packed_input_ids_document...)")
	}
	if s.DataPath == "" && m.Vocab < 260 && !s.Inference() {
		bad("the embedded byte-level corpus needs a vocabulary of at least 260, the model has %d: give --data-path or a bigger model", m.Vocab)
	}
	for flag, v := range map[string]string{"--data-path": s.DataPath, "--save": s.Save, "--load": s.Load,
		"--tokenizer-name-or-path": s.TokenizerNameOrPath, "--task-data-path": s.TaskDataPath} {
		if len(v) > 4096 || strings.ContainsRune(v, 0) {
			bad("%s is not a usable path", flag)
		}
	}
	return errors.Join(errs...)
}

// inferenceSettings lists the flags of s that only inference jobs read and
// that s sets.
func (s *Spec) inferenceSettings() []string {
	var set []string
	for _, f := range []struct {
		flag string
		on   bool
	}{
		{"--prompt", len(s.Prompts) > 0}, {"--max-new-tokens", s.MaxNewTokens != 0}, {"--temperature", s.Temperature != 0},
		{"--top-k", s.TopK != 0}, {"--top-p", s.TopP != 0}, {"--task", s.Task != ""}, {"--task-data-path", s.TaskDataPath != ""},
		{"--limit", s.Limit != 0}, {"--max-batch", s.MaxBatch != 0}, {"--kv-cache-tokens", s.KVCacheTokens != 0},
		{"--kv-cache-dtype", s.KVCacheDType != ""}, {"--prefill-chunk", s.PrefillChunk != 0}, {"--no-pack-weights", s.NoPackWeights},
	} {
		if f.on {
			set = append(set, f.flag)
		}
	}
	return set
}

// checkInference checks a generate or evaluate job's settings.
func (s *Spec) checkInference() []error {
	var errs []error
	bad := func(format string, a ...any) {
		errs = append(errs, fmt.Errorf("%w: "+format, append([]any{ErrInvalid}, a...)...))
	}
	if s.Load == "" {
		bad("a %s job runs a trained model: give it as --load (a Hugging Face directory or a native checkpoint on every node)", s.Kind)
	}
	if s.DataParallel > 1 {
		bad("a %s job runs one data-parallel replica: leave --data-parallel-size unset", s.Kind)
	}
	if s.MicroBatch < 1 || s.SeqLength < 2 {
		bad("--micro-batch-size (%d, rows at a time) must be ≥ 1 and --seq-length (%d) ≥ 2", s.MicroBatch, s.SeqLength)
	}
	if s.TrainIters != 0 || s.TrainSamples != 0 || len(s.LoRATargetModules) > 0 {
		bad("a %s job trains nothing: drop --train-iters, --train-samples and the LoRA settings", s.Kind)
	}
	if s.InitialLossScale != 0 || s.LossScaleWindow != 0 || s.Hysteresis != 0 || s.MinLossScale != 0 || s.ZeroStage != nil {
		bad("a %s job has no loss scaler or optimizer: --fp16 or --bf16 alone picks its products' precision", s.Kind)
	}
	if s.FP16 && s.BF16 {
		bad("--fp16 and --bf16 exclude each other: pick one (the seed generates, evaluates and serves in fp16)")
	}
	if s.KVCacheDType != "" && s.Kind != KindServe {
		bad("--kv-cache-dtype is for serve jobs")
	}
	if s.NoPackWeights && s.Kind != KindGenerate && s.Kind != KindEvaluate {
		bad("--no-pack-weights is for generate and evaluate jobs (a serve job always keeps its weights laid out for its products)")
	}
	switch s.Kind {
	case KindGenerate:
		if len(s.Prompts) == 0 {
			bad("a generate job needs at least one --prompt")
		}
		if s.MaxNewTokens < 0 || s.Temperature < 0 || s.TopK < 0 || s.TopP < 0 || s.TopP > 1 {
			bad("--max-new-tokens, --temperature and --top-k must be ≥ 0, --top-p in [0,1]")
		}
		if s.Task != "" || s.TaskDataPath != "" {
			bad("--task and --task-data-path are for evaluate jobs")
		}
	case KindServe:
		if s.MaxBatch < 0 || s.KVCacheTokens < 0 || s.PrefillChunk < 0 || len(s.Prompts) > 0 || s.Task != "" {
			bad("--max-batch, --kv-cache-tokens and --prefill-chunk must be ≥ 0; --prompt and --task are for generate and evaluate jobs")
		}
		if _, err := npu.ParseDType(s.KVCacheDType); s.KVCacheDType != "" && err != nil {
			bad("--kv-cache-dtype: %v", err)
		}
	case KindEvaluate:
		if s.Task != "boolq" && s.Task != "mmlu" {
			bad("--task %q: boolq or mmlu", s.Task)
		}
		if s.TaskDataPath == "" {
			bad("an evaluate job needs --task-data-path: the task's data on every node")
		}
		if s.Limit < 0 || len(s.Prompts) > 0 {
			bad("--limit must be ≥ 0; --prompt is for generate jobs")
		}
	}
	return errs
}

func (s *Spec) checkPartition(layers int) error {
	if len(s.PartitionLayers) == 0 {
		_, err := s.StageLayers()
		return err
	}
	sum := 0
	for _, n := range s.PartitionLayers {
		if n < 1 {
			return fmt.Errorf("%w: --partition-layers %s: every stage needs at least one layer", ErrInvalid, joinInts(s.PartitionLayers))
		}
		sum += n
	}
	if len(s.PartitionLayers) != s.PipelineParallel {
		return fmt.Errorf("%w: --partition-layers %s has %d stages but --pipeline-model-parallel-size is %d: give one count per stage",
			ErrInvalid, joinInts(s.PartitionLayers), len(s.PartitionLayers), s.PipelineParallel)
	}
	if sum != layers {
		return fmt.Errorf("%w: --partition-layers %s sums to %d but the model has %d layers: make the counts sum to %d (e.g. %s)",
			ErrInvalid, joinInts(s.PartitionLayers), sum, layers, layers, suggestPartition(layers, s.PipelineParallel))
	}
	return nil
}

func (s *Spec) checkBatch() []error {
	var errs []error
	bad := func(format string, a ...any) {
		errs = append(errs, fmt.Errorf("%w: "+format, append([]any{ErrInvalid}, a...)...))
	}
	mb, gb := s.MicroBatch, s.GlobalBatch
	if mb < 1 || gb < 1 || s.SeqLength < 1 || s.SeqLength > 1<<20 {
		bad("--micro-batch-size (%d), --global-batch-size (%d) and --seq-length (%d) must be positive", mb, gb, s.SeqLength)
		return errs
	}
	// Bounds no product of them can overflow (a micro-batch's tokens are
	// an int32 count on the devices; steps × batch is an int64 sample).
	if mb > 1<<20 || gb > 1<<30 || int64(mb)*int64(s.SeqLength) > 1<<31-1 {
		bad("--micro-batch-size %d × --seq-length %d (at most 2^31−1 tokens a micro-batch) and --global-batch-size %d (at most 2^30) are too large", mb, s.SeqLength, gb)
		return errs
	}
	if s.TrainIters > 1<<40 || s.TrainSamples > 1<<50 {
		bad("--train-iters (at most 2^40) or --train-samples (at most 2^50) is too large")
		return errs
	}
	if err := data.CheckSplit(s.Split); s.Split != "" && err != nil {
		bad("%v", err)
	}
	if dp := max(s.DataParallel, 1); gb%(mb*dp) != 0 {
		bad("--global-batch-size %d is not divisible by --micro-batch-size %d × data-parallel size %d = %d: make the global batch a multiple of %d",
			gb, mb, dp, mb*dp, mb*dp)
	}
	switch {
	case s.TrainIters > 0 && s.TrainSamples > 0:
		bad("give --train-iters or --train-samples, not both")
	case s.TrainIters < 0 || s.TrainSamples < 0:
		bad("--train-iters and --train-samples must not be negative")
	case s.TrainIters == 0 && s.TrainSamples == 0:
		bad("the run has no length: give --train-iters N or --train-samples N")
	case s.TrainSamples > 0 && s.TrainSamples < int64(gb):
		bad("--train-samples %d is less than one global batch (%d)", s.TrainSamples, gb)
	}
	return errs
}

func (s *Spec) checkOptimizer() []error {
	var errs []error
	bad := func(format string, a ...any) {
		errs = append(errs, fmt.Errorf("%w: "+format, append([]any{ErrInvalid}, a...)...))
	}
	if !(s.LR > 0) || s.MinLR < 0 || s.MinLR > s.LR {
		bad("learning rates must satisfy 0 ≤ --min-lr (%g) ≤ --lr (%g) and --lr > 0", s.MinLR, s.LR)
	}
	switch s.LRDecayStyle {
	case "cosine", "linear", "constant":
	default:
		bad("--lr-decay-style %q: use cosine, linear or constant", s.LRDecayStyle)
	}
	if s.LRWarmupSamples < 0 || s.LRDecaySamples < 0 || (s.LRDecaySamples > 0 && s.LRDecaySamples < s.LRWarmupSamples) {
		bad("--lr-warmup-samples (%d) and --lr-decay-samples (%d) must be ≥ 0, decay ≥ warmup", s.LRWarmupSamples, s.LRDecaySamples)
	}
	if s.WeightDecay < 0 || s.ClipGrad < 0 || s.AdamEps <= 0 || s.AdamBeta1 < 0 || s.AdamBeta1 >= 1 || s.AdamBeta2 < 0 || s.AdamBeta2 >= 1 {
		bad("--weight-decay and --clip-grad must be ≥ 0, Adam betas in [0,1), eps > 0")
	}
	if !(s.InitMethodStd > 0) {
		bad("--init-method-std must be positive")
	}
	return append(errs, s.checkPrecision()...)
}

// ValidatePrecision checks --fp16, --bf16 and the loss scaler's settings
// alone (Validate checks them too): what train --local checks of them.
func (s *Spec) ValidatePrecision() error { return errors.Join(s.checkPrecision()...) }

// checkPrecision checks --fp16, --bf16 and the loss scaler's settings.
func (s *Spec) checkPrecision() []error {
	var errs []error
	bad := func(format string, a ...any) {
		errs = append(errs, fmt.Errorf("%w: "+format, append([]any{ErrInvalid}, a...)...))
	}
	if s.FP16 && s.BF16 {
		bad("--fp16 and --bf16 exclude each other: pick one (the seed trains Bloom-7B in fp16, Bloom-176B in bf16)")
	}
	scaler := s.InitialLossScale != 0 || s.LossScaleWindow != 0 || s.Hysteresis != 0 || s.MinLossScale != 0
	if scaler && !s.FP16 {
		bad("--initial-loss-scale, --loss-scale-window, --hysteresis and --min-loss-scale apply to --fp16 only")
	}
	if f := s.InitialLossScale; f < 0 || f > 0 && (math.IsInf(f, 0) || f != math.Ldexp(1, math.Ilogb(f)) || f < 1) {
		bad("--initial-loss-scale %g: want a power of two of at least 1, such as 4096", f)
	}
	if s.LossScaleWindow < 0 || s.Hysteresis < 0 || s.MinLossScale < 0 {
		bad("--loss-scale-window, --hysteresis and --min-loss-scale must not be negative")
	}
	if z := s.ZeroStage; z != nil && (*z < 0 || *z > 3) {
		bad("--zero-stage %d: want 0, 1, 2 or 3", *z)
	}
	if s.FP16 && len(errs) == 0 {
		if err := s.LossScale().Validate(); err != nil {
			errs = append(errs, fmt.Errorf("%w: %w", ErrInvalid, err))
		}
	}
	return errs
}

// ResolveLayout fixes DataParallel for a cluster of the given total device
// count, or checks it against that count: TP×PP×DP must fit. With
// DataParallel 0 it picks the largest DP that fits the devices and divides
// the global batch by micro-batch × DP.
func (s *Spec) ResolveLayout(devices int) error {
	tp, pp := s.TensorParallel, s.PipelineParallel
	if s.Inference() {
		s.DataParallel = max(s.DataParallel, 1) // one replica answers
	}
	if s.DataParallel == 0 {
		for dp := devices / (tp * pp); dp >= 1; dp-- {
			if s.GlobalBatch%(s.MicroBatch*dp) == 0 {
				s.DataParallel = dp
				break
			}
		}
		if s.DataParallel == 0 {
			return fmt.Errorf("%w: TP %d × PP %d = %d devices per replica, but the cluster has %d: lower --tensor-model-parallel-size or --pipeline-model-parallel-size, or add devices",
				ErrInvalid, tp, pp, tp*pp, devices)
		}
		return nil
	}
	if n := s.Ranks(); n > devices {
		return fmt.Errorf("%w: TP %d × PP %d × DP %d = %d ranks, but the cluster has %d devices: lower --data-parallel-size to %d or less, or add devices",
			ErrInvalid, tp, pp, s.DataParallel, n, devices, max(devices/(tp*pp), 0))
	}
	return nil
}

func joinInts(v []int) string {
	s := make([]string, len(v))
	for i, n := range v {
		s[i] = fmt.Sprint(n)
	}
	return strings.Join(s, ",")
}
