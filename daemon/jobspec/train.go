package jobspec

import (
	"cmp"
	"math"

	"bloom/ckpt"
	"bloom/npu"
	"bloom/trainer"
)

// TrainConfig is the trainer's configuration that the spec states, the
// same for every rank and for `bloomctl train --local`: the batch, the
// run's length, the optimizer, the learning-rate schedule, the seed, the
// initialization and clipping, and the pipeline split. It is the one place
// the Megatron settings turn into the trainer's terms. What the caller
// knows and the spec does not is left for it to set: the model's shape
// (Model: ModelConfig, or the shape of a directory it loads), the layout
// and the rank, and the checkpoint directories this node reads and writes
// (Save, SaveInterval, Load).
func (s *Spec) TrainConfig() trainer.RankConfig {
	c := trainer.DefaultRankConfig()
	if len(s.PartitionLayers) > 0 {
		c.PartitionLayers = append([]int(nil), s.PartitionLayers...)
	}
	c.MicroBatch, c.GlobalBatch, c.SeqLength, c.Steps = s.MicroBatch, s.GlobalBatch, s.SeqLength, int(s.Steps())
	c.Seed, c.InitStd, c.ClipGrad = s.Seed, s.InitMethodStd, s.ClipGrad
	c.Adam = trainer.AdamWConfig{Beta1: s.AdamBeta1, Beta2: s.AdamBeta2, Eps: s.AdamEps, WeightDecay: s.WeightDecay}
	c.LR = trainer.Schedule{MaxLR: s.LR, MinLR: s.MinLR, Style: s.LRDecayStyle,
		WarmupSamples: s.LRWarmupSamples, DecaySamples: s.DecaySamples()}
	c.Precision, c.LossScale = s.Precision(), s.LossScale()
	c.Tokenizer, c.Recompute, c.Rampup = s.TokenizerNameOrPath, s.CheckpointActivations, s.Rampup()
	c.Eval = trainer.Eval{Interval: s.EvalInterval, Iters: s.EvalIters}
	if s.DataPath == "" {
		c.Tokenizer = trainer.ByteTokenizer // the embedded byte-level corpus
	}
	return c
}

// Precision is the type of the job's matrix products: npu.F16 (--fp16),
// npu.BF16 (--bf16) or npu.F32.
func (s *Spec) Precision() npu.DType {
	switch {
	case s.FP16:
		return npu.F16
	case s.BF16:
		return npu.BF16
	}
	return npu.F32
}

// KVType is the type of a serve job's key/value cache (KVCacheDType;
// npu.F32 when empty or not a type, which Validate reports).
func (s *Spec) KVType() npu.DType {
	t, err := npu.ParseDType(s.KVCacheDType)
	if err != nil {
		return npu.F32
	}
	return t
}

// LossScale is the fp16 loss scaler the spec asks for: the seed's settings
// where a field is 0, the rule of --zero-stage.
func (s *Spec) LossScale() trainer.LossScaleConfig {
	c := trainer.SeedLossScaleConfig()
	if s.InitialLossScale > 0 {
		c.InitialScalePower = math.Ilogb(s.InitialLossScale)
	}
	c.Window = cmp.Or(s.LossScaleWindow, c.Window)
	c.Hysteresis = cmp.Or(s.Hysteresis, c.Hysteresis)
	c.MinScale = cmp.Or(s.MinLossScale, c.MinScale)
	if s.ZeroStage != nil && *s.ZeroStage == 0 {
		c.Rule = trainer.RuleFP16Optimizer
	}
	return c
}

// Rampup is --rampup-batch-size START INCREMENT SAMPLES (none when unset).
func (s *Spec) Rampup() trainer.Rampup {
	if len(s.RampupBatchSize) != 3 {
		return trainer.Rampup{}
	}
	return trainer.Rampup{Start: int(s.RampupBatchSize[0]), Increment: int(s.RampupBatchSize[1]), Samples: s.RampupBatchSize[2]}
}

// Retention is the spec's checkpoint retention policy.
func (s *Spec) Retention() ckpt.Retention {
	return ckpt.Retention{KeepLast: s.KeepLast, KeepEvery: s.KeepEvery}
}
