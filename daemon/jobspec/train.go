package jobspec

import "bloom/trainer"

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
	return c
}
