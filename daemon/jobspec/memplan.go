package jobspec

import (
	"cmp"
	"fmt"
	"maps"
	"slices"

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
// at a time. It is the plan of ranks on CPU devices: MemoryPlanOn("cpu").
func (s *Spec) MemoryPlan() (memplan.Plan, error) { return s.MemoryPlanOn("cpu") }

// deviceKinds tells, for each device kind of bloomd's --devices, what an
// inference rank there keeps beyond the model and its cache:
//   - packs: its matrices a second time, laid out for its products
//     (bloom.Model.PackWeights, unless no_pack_weights): the CPU device
//     does (npu.WeightPacker); the Ascend backend has no packer and keeps
//     them once (npu/acl's TestNoWeightPacker holds it to that);
//   - engineCaches: a serving engine's one-row caches of a whole sequence
//     (trainer.Batcher): the CPU device attends over the paged pool in
//     place (npu.PagedAttender) and prefills prompts there, so it keeps
//     one, where prompts are scored; the Ascend backend prefills each
//     prompt in a staging cache and scores in another.
var deviceKinds = map[string]struct {
	packs        bool
	engineCaches int
}{"cpu": {true, 1}, "npu": {false, 2}}

// MemoryPlans is MemoryPlanOn for each device kind, by kind.
func (s *Spec) MemoryPlans() (map[string]memplan.Plan, error) {
	plans := map[string]memplan.Plan{}
	for kind := range deviceKinds {
		p, err := s.MemoryPlanOn(kind)
		if err != nil {
			return nil, err
		}
		plans[kind] = p
	}
	return plans, nil
}

// MemoryPlanOn is MemoryPlan for ranks on devices of kind ("cpu" or "npu",
// as bloomd's --devices names them). The kinds differ only for inference
// jobs, by the packed copy of the weights and a serving engine's own
// caches (deviceKinds).
func (s *Spec) MemoryPlanOn(kind string) (memplan.Plan, error) {
	dk, ok := deviceKinds[kind]
	if !ok {
		return memplan.Plan{}, fmt.Errorf("%w: memory plan: unknown device kind %q (cpu or npu)", ErrInvalid, kind)
	}
	m, err := s.ModelConfig()
	if err != nil {
		return memplan.Plan{}, err
	}
	j := memplan.Job{Model: m, TP: s.TensorParallel, PP: s.PipelineParallel, DP: s.DataParallel,
		Partition: s.PartitionLayers, MicroBatch: s.MicroBatch, SeqLength: s.SeqLength,
		Precision: map[npu.DType]memplan.Precision{npu.F32: memplan.FP32, npu.F16: memplan.FP16, npu.BF16: memplan.BF16}[s.Precision()],
		Recompute: s.CheckpointActivations, Inference: s.Inference(), Unpacked: s.NoPackWeights || !dk.packs}
	if s.DataParallel > 0 && s.MicroBatch > 0 && !j.Inference {
		j.MicroBatches = s.GlobalBatch / (s.MicroBatch * s.DataParallel)
	}
	switch s.Kind {
	case KindGenerate, KindEvaluate:
		j.KVTokens = s.MicroBatch * s.SeqLength
	case KindServe:
		j.MicroBatch, j.KVTokens = 1, cmp.Or(s.KVCacheTokens, cmp.Or(s.MaxBatch, 8)*s.SeqLength)
		j.EngineCaches = dk.engineCaches
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

// Offer is what one live node offers jobs: its devices, counted by kind
// (bloomd --devices: "cpu", "npu"), and the memory a rank on one of them
// may use, in MiB (0: not reported yet).
type Offer struct {
	Devices map[string]int
	MemMiB  uint64
}

// Fits refuses a job whose ranks need more memory than offers have: the
// memory plan of its largest stage on each node's kind of device
// (MemoryPlans) against the memory that node offers one device. Devices
// of nodes that have not reported their memory are given the benefit of
// the doubt; with no node reporting, nothing is refused.
func (s *Spec) Fits(offers []Offer) error {
	plans, err := s.MemoryPlans()
	if err != nil {
		return err
	}
	plan := plans["cpu"] // the ranks and, until a node says otherwise, the figures
	devices, known, most := 0, false, uint64(0)
	for _, o := range offers {
		known = known || o.MemMiB > 0
		for _, kind := range slices.Sorted(maps.Keys(o.Devices)) {
			p, ok := plans[kind]
			if !ok {
				continue
			}
			if o.MemMiB > most {
				most, plan = o.MemMiB, p // the figures of the roomiest node's kind
			}
			if o.MemMiB == 0 || int64(o.MemMiB)<<20 >= p.Max().Rank.Total {
				devices += o.Devices[kind]
			}
		}
	}
	if !known || devices >= plan.Ranks() {
		return nil
	}
	need := plan.Max()
	gib := func(b int64) string { return fmt.Sprintf("%.2f GiB", float64(b)/(1<<30)) }
	r := need.Rank
	return fmt.Errorf("%w: out of memory before it starts: each rank of pipeline stage %d needs about %s (weights %s, gradients %s, optimizer %s, activations %s; bloomctl plan shows every stage), "+
		"but %d of the %d ranks find a device with that much (the most a node offers one device is %s): "+
		"raise --tensor-model-parallel-size or --pipeline-model-parallel-size, add --checkpoint-activations, lower --micro-batch-size or --seq-length, or add nodes with more memory",
		ErrInvalid, need.Stage, gib(r.Total), gib(r.Weights), gib(r.Grads), gib(r.Optimizer), gib(r.Activations),
		devices, plan.Ranks(), gib(int64(most)<<20))
}
