package jobspec

import (
	"cmp"
	"fmt"

	"bloom/npu"
	"bloom/trainer/memplan"
)

// MemoryPlan is the memory each rank of the job needs: trainer/memplan's
// estimate (Megatron's formulas over the storage bloom's trainer uses) for
// its model, layout, micro-batch, sequence length, precision,
// recomputation and LoRA. s should pass Validate. With DataParallel still
// 0 (unresolved) the plan is that of one replica, which every replica
// shares, and each stage i keeps PP−i micro-batches in flight; once DP is
// resolved, no more than a step's global batch / (micro-batch · DP).
// Inference jobs have no gradients or optimizer state and a key/value
// cache instead: a generate or evaluate job's micro-batch × seq-length
// positions, a serve job's --kv-cache-tokens (else max-batch ×
// seq-length), whose engine the plan counts as one sequence of seq-length
// at a time.
func (s *Spec) MemoryPlan() (memplan.Plan, error) {
	m, err := s.ModelConfig()
	if err != nil {
		return memplan.Plan{}, err
	}
	j := memplan.Job{Model: m, TP: s.TensorParallel, PP: s.PipelineParallel, DP: s.DataParallel,
		Partition: s.PartitionLayers, MicroBatch: s.MicroBatch, SeqLength: s.SeqLength,
		Precision: map[npu.DType]memplan.Precision{npu.F32: memplan.FP32, npu.F16: memplan.FP16, npu.BF16: memplan.BF16}[s.Precision()],
		Recompute: s.CheckpointActivations, Inference: s.Inference(), Unpacked: s.NoPackWeights}
	if s.DataParallel > 0 && s.MicroBatch > 0 && !j.Inference {
		j.MicroBatches = s.GlobalBatch / (s.MicroBatch * s.DataParallel)
	}
	switch s.Kind {
	case KindGenerate, KindEvaluate:
		j.KVTokens = s.MicroBatch * s.SeqLength
	case KindServe:
		j.MicroBatch, j.KVTokens = 1, cmp.Or(s.KVCacheTokens, cmp.Or(s.MaxBatch, 8)*s.SeqLength)
		if s.KVType() != npu.F32 {
			j.KVBytes = 2
		}
	}
	p, err := memplan.New(j)
	if err != nil {
		return p, fmt.Errorf("%w: memory plan: %v", ErrInvalid, err)
	}
	return p, nil
}
