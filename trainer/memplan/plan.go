package memplan

import (
	"errors"
	"fmt"

	"bloom/trainer/bloom"
)

// ErrJob wraps every error of New: a job the plan cannot be made for.
var ErrJob = errors.New("memplan")

// Precision is the type of a job's matrix products.
type Precision string

const (
	FP32 Precision = "fp32"
	FP16 Precision = "fp16" // --fp16
	BF16 Precision = "bf16" // --bf16
)

// Elem is the bytes one element of each kind of memory takes.
type Elem struct {
	Weight, Grad, Optimizer, Activation, Logit int64
	// LinearInput is an activation that a linear (or the tied head)
	// without a LoRA adapter keeps for its weight gradient.
	LinearInput int64
}

// Sizes is what bloom's trainer stores per element at precision p (the
// package doc's table): float32 but for the linears' inputs under fp16 or
// bf16, which it keeps rounded to the half type, since it keeps fp32
// master weights, gradients, moments and activations.
func Sizes(p Precision) Elem {
	e := Elem{Weight: 4, Grad: 4, Optimizer: 8, Activation: 4, Logit: 4, LinearInput: 4}
	if p == FP16 || p == BF16 {
		e.LinearInput = 2
	}
	return e
}

// Job is what the plan needs to know of a job.
type Job struct {
	Model      bloom.Config // the shape, with its LoRA adapters if any
	TP, PP, DP int          // DP 0 counts as 1: the plan of one replica is every replica's
	// Partition is the layers of each stage (--partition-layers); nil
	// splits them evenly, and the layers must divide by PP.
	Partition  []int
	MicroBatch int // sequences per micro-batch (b)
	SeqLength  int // tokens per sequence (s)
	// MicroBatches is a step's micro-batches per replica, global batch /
	// (micro-batch · DP); 0 when unknown, and then stage i holds PP−i in
	// flight, 1F1B's bound.
	MicroBatches int
	Precision    Precision
	Recompute    bool // --checkpoint-activations
	// Inference: a generate, evaluate or serve job: no gradients, no
	// optimizer, a key/value cache of KVTokens positions (all rows).
	Inference bool
	KVTokens  int
	// Unpacked: an inference job that keeps no packed copy of its
	// matrices (bloom.Model.PackWeights).
	Unpacked bool
	// KVBytes is the bytes of one cached key or value value (0: the
	// activations' bytes): 2 for a serve job's cache of fp16 or bf16.
	KVBytes int64
	// EngineCaches is how many one-row float32 caches of SeqLength
	// positions a serving engine keeps beside its pool (trainer.Batcher):
	// on a device that attends over the pool in place (the CPU) the one a
	// prompt is scored in; elsewhere also the one each prompt is prefilled
	// in before it joins.
	EngineCaches int
}

// Bytes is one rank's memory by kind, in bytes.
type Bytes struct {
	Weights     int64 `json:"weights"`
	Grads       int64 `json:"grads"`
	Optimizer   int64 `json:"optimizer"`
	Activations int64 `json:"activations"`
	Total       int64 `json:"total"`
}

// Stage is the plan of one pipeline stage: every rank of it (each
// tensor-parallel rank, each data-parallel replica) needs the same.
type Stage struct {
	Stage     int   `json:"stage"`
	First     int   `json:"first_layer"`
	Layers    int   `json:"layers"`
	InFlight  int   `json:"in_flight"`  // micro-batches whose activations it keeps at once
	Params    int64 `json:"params"`     // parameters one rank holds
	Trainable int64 `json:"trainable"`  // of them, those with gradients and optimizer state
	Rank      Bytes `json:"bytes_rank"` // one rank's bytes
}

// Plan is the memory per rank of a job.
type Plan struct {
	TP     int     `json:"tensor_model_parallel_size"`
	PP     int     `json:"pipeline_model_parallel_size"`
	DP     int     `json:"data_parallel_size"`
	Stages []Stage `json:"stages"`
}

// PerRank is rank's bytes, ranks numbered as trainer.Layout numbers them
// (rank = stage·DP·TP + replica·TP + tensor rank). rank must be in
// [0, Ranks()).
func (p Plan) PerRank(rank int) Bytes { return p.Stages[rank/(p.DP*p.TP)].Rank }

// Ranks is TP·PP·DP.
func (p Plan) Ranks() int { return p.TP * p.PP * p.DP }

// Max is the stage whose ranks need the most.
func (p Plan) Max() Stage {
	m := p.Stages[0]
	for _, s := range p.Stages[1:] {
		if s.Rank.Total > m.Rank.Total {
			m = s
		}
	}
	return m
}

// New makes the plan of j, or says why it cannot.
func New(j Job) (Plan, error) {
	if err := j.check(); err != nil {
		return Plan{}, err
	}
	parts, err := j.partition()
	if err != nil {
		return Plan{}, err
	}
	p := Plan{TP: j.TP, PP: j.PP, DP: max(j.DP, 1)}
	first := 0
	for i, n := range parts {
		p.Stages = append(p.Stages, j.stage(i, first, n))
		first += n
	}
	return p, nil
}

func (j Job) check() error {
	switch {
	case j.TP < 1 || j.PP < 1 || j.DP < 0:
		return fmt.Errorf("%w: TP %d and PP %d must be ≥ 1, DP %d ≥ 0", ErrJob, j.TP, j.PP, j.DP)
	case j.MicroBatch < 1 || j.SeqLength < 1:
		return fmt.Errorf("%w: micro-batch %d and sequence length %d must be ≥ 1", ErrJob, j.MicroBatch, j.SeqLength)
	case j.MicroBatches < 0 || j.KVTokens < 0 || j.EngineCaches < 0:
		return fmt.Errorf("%w: micro-batches %d, key/value tokens %d and engine caches %d must be ≥ 0", ErrJob, j.MicroBatches, j.KVTokens, j.EngineCaches)
	case j.Precision != FP32 && j.Precision != FP16 && j.Precision != BF16:
		return fmt.Errorf("%w: precision %q: want fp32, fp16 or bf16", ErrJob, j.Precision)
	}
	if err := j.Model.Validate(); err != nil {
		return fmt.Errorf("%w: %w", ErrJob, err)
	}
	if err := (bloom.Part{TP: j.TP, Layers: 1, Embed: true}).Validate(j.Model); err != nil {
		return fmt.Errorf("%w: %w", ErrJob, err)
	}
	return nil
}

// partition is the layers of each stage.
func (j Job) partition() ([]int, error) {
	L := j.Model.Layers
	if j.Partition == nil {
		if L%j.PP != 0 {
			return nil, fmt.Errorf("%w: %d layers do not split evenly over %d stages: give the partition", ErrJob, L, j.PP)
		}
		parts := make([]int, j.PP)
		for i := range parts {
			parts[i] = L / j.PP
		}
		return parts, nil
	}
	sum := 0
	for _, n := range j.Partition {
		if n < 1 {
			return nil, fmt.Errorf("%w: partition %v: every stage needs a layer", ErrJob, j.Partition)
		}
		sum += n
	}
	if len(j.Partition) != j.PP || sum != L {
		return nil, fmt.Errorf("%w: partition %v: want %d stages summing to %d layers", ErrJob, j.Partition, j.PP, L)
	}
	return j.Partition, nil
}

// stage plans stage i, which runs layers [first, first+n).
func (j Job) stage(i, first, n int) Stage {
	part := bloom.Part{TP: j.TP, First: first, Layers: n, Embed: i == 0, Head: i == j.PP-1}
	s := Stage{Stage: i, First: first, Layers: n, InFlight: j.inFlight(i)}
	var packed int64 // the weights an inference rank packs for its products
	for _, t := range bloom.NewPartLayout(j.Model, part).Tensors {
		s.Params += int64(t.Size)
		if !t.Frozen {
			s.Trainable += int64(t.Size)
		}
		if len(t.Shape) == 2 && !t.Adapter && (t.Name != "word_embeddings.weight" || part.Head) {
			packed += int64(t.Size)
		}
	}
	e := Sizes(j.Precision)
	s.Rank.Weights = s.Params * e.Weight
	if j.Inference && !j.Unpacked {
		s.Rank.Weights += packed * packedWeight(j.Precision)
	}
	if !j.Inference {
		s.Rank.Grads = s.Trainable * e.Grad
		s.Rank.Optimizer = s.Trainable * e.Optimizer
	}
	s.Rank.Activations = j.activations(part, s.InFlight, e)
	s.Rank.Total = s.Rank.Weights + s.Rank.Grads + s.Rank.Optimizer + s.Rank.Activations
	return s
}

// packedWeight is the bytes of an inference job's packed copy of a weight
// (bloom.Model.PackWeights on the CPU device: the blocks' four linears and,
// on the last stage, the tied head): float32, or the products' half type.
func packedWeight(p Precision) int64 {
	if p == FP16 || p == BF16 {
		return 2
	}
	return 4
}

// inFlight is the micro-batches stage i keeps under 1F1B (trainer.InFlight).
func (j Job) inFlight(i int) int {
	if j.Inference {
		return 1
	}
	n := j.PP - i
	if j.MicroBatches > 0 {
		n = min(n, j.MicroBatches)
	}
	return n
}
