package trainer

import (
	"context"
	"errors"
	"fmt"

	"bloom/npu"
	"bloom/trainer/bloom"
)

// What a rank needs from the network, declared here and implemented by the
// daemon with collective (and by an in-process fake in the tests).

// ReduceOp is how AllReduce combines values; the numbers are HCCL's.
type ReduceOp int

const (
	ReduceSum ReduceOp = 0
	ReduceMax ReduceOp = 2
)

// Group is a communicator over some of the job's ranks: the tensor-parallel,
// data-parallel or pipeline group of a rank, or the embedding group of the
// first and last pipeline stage. Members are numbered 0..Size()-1 in the
// order of their global ranks.
type Group interface {
	Size() int
	Rank() int
	// AllReduce combines buf across the group in place. Every member must get
	// the same bits, run after run (a reduction in a fixed order): replicas
	// stay identical and resume is exact only then. Every member calls the
	// group's operations in the same order. It must not keep buf.
	AllReduce(ctx context.Context, buf []float32, op ReduceOp) error
	// AllReduceF16 sums buf, IEEE fp16 values (internal/half's bits),
	// across the group in place, with AllReduce's guarantees: how the
	// data-parallel ranks of an --fp16 job reduce their gradients, as
	// DeepSpeed's engine does.
	AllReduceF16(ctx context.Context, buf []uint16) error
}

// StageLink connects a pipeline stage with a neighbouring one: activations
// go forward, their gradients back. Recv fills all of buf with what the
// peer's Send of the same length sent; messages arrive in order. Send may
// return before the peer receives. Neither keeps buf. A rank sends on a
// link from one goroutine at a time and receives from another.
type StageLink interface {
	Send(ctx context.Context, buf []float32) error
	Recv(ctx context.Context, buf []float32) error
}

// ErrConfig is wrapped by every error about a RankConfig.
var ErrConfig = errors.New("trainer: invalid configuration")

// RankConfig is one rank's part of a training job, in Megatron's terms; the
// flag each field comes from is named in its comment. Every rank of a job
// gets the same config but its Rank.
type RankConfig struct {
	Model bloom.Config

	// Rank is this rank: pp·(DP·TP) + dp·TP + tp, as Megatron numbers them
	// (Layout: tensor parallelism innermost, inside a node; pipeline
	// outermost).
	Rank int
	Layout
	// PartitionLayers is --partition-layers: the blocks of each pipeline
	// stage, in order; it has PP entries of at least 1 that sum to the
	// model's layers. nil splits the layers evenly.
	PartitionLayers []int

	MicroBatch  int // --micro-batch-size: sequences per forward/backward
	GlobalBatch int // --global-batch-size: sequences per step, a multiple of MicroBatch·DP
	// Rampup is --rampup-batch-size: smaller global batches in the run's
	// first samples (the zero value: none).
	Rampup Rampup
	// Eval is --eval-interval and --eval-iters: validation on Env.Valid.
	Eval      Eval
	SeqLength int // --seq-length: tokens per sequence (samples hold one more)
	Steps     int // --train-iters: the step to stop after, counting steps a resumed run loaded

	Seed     uint64      // --seed: the initialization
	InitStd  float64     // --init-method-std
	ClipGrad float64     // --clip-grad: max global gradient norm; 0 = no clipping
	Adam     AdamWConfig // --adam-beta1, --adam-beta2, --adam-eps, --weight-decay
	LR       Schedule    // --lr, --min-lr, --lr-warmup-samples, --lr-decay-samples, --lr-decay-style

	// Precision is --fp16 or --bf16: the type the model's matrix products
	// round their operands to (bloom.Model.SetPrecision), with float32
	// master weights and optimizer; npu.F32 is neither. Under F16 the
	// gradients are fp16 values, reduced across data-parallel ranks in
	// fp16 and loss-scaled by LossScale; under BF16 they stay float32.
	Precision npu.DType
	// LossScale is the fp16 dynamic loss scaler (--initial-loss-scale,
	// --loss-scale-window, --hysteresis, --min-loss-scale, and
	// --zero-stage for its rule); used under F16 only.
	LossScale LossScaleConfig
	// Recompute is --checkpoint-activations (bloom.Model.Recompute): less
	// activation memory for a second forward of each block in backward.
	Recompute bool

	// Tokenizer is what the data was tokenized with, recorded in the
	// checkpoints so that an exported model carries it: ByteTokenizer for
	// byte-level data (the embedded corpus), else a tokenizer.json path
	// (--tokenizer-name-or-path); "" when unknown.
	Tokenizer string

	// BucketElems is the size, in gradient values, of the data-parallel
	// all-reduce buckets; 0 = DefaultBucketElems.
	BucketElems int

	Save         string // --save: checkpoint root; "" = no checkpoints
	SaveInterval int    // --save-interval: steps between checkpoints; the last step is saved too
	// Load is --load: a checkpoint root (its latest committed checkpoint is
	// loaded; none yet means start fresh), one step directory of it, or a
	// Hugging Face model directory (weights only: fine-tuning from step 0).
	// The layout may differ from the checkpoint's.
	Load string
}

// ByteTokenizer is RankConfig.Tokenizer for byte-level data: token 4+b is
// byte b (trainer/data's ByteTokens; trainer/tokenizer's ByteLevel).
const ByteTokenizer = "bytes"

// DefaultBucketElems is Megatron's DDP bucket size.
const DefaultBucketElems = 40_000_000

// DefaultRankConfig is one rank training alone with Megatron's defaults;
// set the model, batch sizes, steps and learning rate.
func DefaultRankConfig() RankConfig {
	return RankConfig{Layout: Layout{TP: 1, PP: 1, DP: 1}, MicroBatch: 1, GlobalBatch: 1, SeqLength: 1024, Steps: 1,
		Seed: 1234, InitStd: 0.02, ClipGrad: 1.0,
		Adam:      AdamWConfig{Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, WeightDecay: 0.01},
		LR:        Schedule{MaxLR: 1e-4, Style: "linear"},
		LossScale: SeedLossScaleConfig()}
}

// SavesAfter reports whether a checkpoint is written after step (1-based):
// every SaveInterval steps and after the last, when Save is set. A rank
// asked to stop saves too (Env.Stop), whatever the step.
func (c RankConfig) SavesAfter(step int) bool {
	return c.Save != "" && (c.SaveInterval > 0 && step%c.SaveInterval == 0 || step == c.Steps)
}

// Coords is this rank's place in the layout.
func (c RankConfig) Coords() Coords { return c.Layout.Coords(c.Rank) }

// Validate reports a config that cannot run, saying what to change.
func (c RankConfig) Validate() error {
	if err := c.Model.Validate(); err != nil {
		return err
	}
	L := c.Model.Layers
	switch {
	case c.TP < 1 || c.PP < 1 || c.DP < 1:
		return fmt.Errorf("%w: tensor (%d), pipeline (%d) and data (%d) parallel sizes must be at least 1", ErrConfig, c.TP, c.PP, c.DP)
	case c.Rank < 0 || c.Rank >= c.World():
		return fmt.Errorf("%w: rank %d is outside the job's %d = TP %d × PP %d × DP %d ranks", ErrConfig, c.Rank, c.World(), c.TP, c.PP, c.DP)
	case c.Model.Heads%c.TP != 0:
		return fmt.Errorf("%w: %d attention heads do not divide among --tensor-model-parallel-size %d: choose a divisor of %d", ErrConfig, c.Model.Heads, c.TP, c.Model.Heads)
	case c.Model.Vocab%c.TP != 0:
		return fmt.Errorf("%w: the vocabulary (%d rows) does not divide among --tensor-model-parallel-size %d: pad it to a multiple of %d", ErrConfig, c.Model.Vocab, c.TP, c.TP)
	case c.PartitionLayers == nil && L%c.PP != 0:
		return fmt.Errorf("%w: %d layers do not split evenly into %d pipeline stages: give --partition-layers", ErrConfig, L, c.PP)
	case c.MicroBatch <= 0 || c.SeqLength <= 0:
		return fmt.Errorf("%w: --micro-batch-size (%d) and --seq-length (%d) must be positive", ErrConfig, c.MicroBatch, c.SeqLength)
	case c.GlobalBatch <= 0 || c.GlobalBatch%(c.MicroBatch*c.DP) != 0:
		return fmt.Errorf("%w: --global-batch-size %d must be a positive multiple of --micro-batch-size %d × data-parallel size %d = %d",
			ErrConfig, c.GlobalBatch, c.MicroBatch, c.DP, c.MicroBatch*c.DP)
	case c.Steps <= 0:
		return fmt.Errorf("%w: --train-iters must be positive, got %d", ErrConfig, c.Steps)
	case c.Eval.Iters < 0 || c.Eval.Interval < 0 || c.Eval.Iters > 0 && c.Eval.Interval == 0:
		return fmt.Errorf("%w: --eval-iters %d needs a positive --eval-interval, got %d", ErrConfig, c.Eval.Iters, c.Eval.Interval)
	case c.Rampup.Validate(c.GlobalBatch, c.MicroBatch*c.DP) != nil:
		return c.Rampup.Validate(c.GlobalBatch, c.MicroBatch*c.DP)
	case c.ClipGrad < 0 || c.InitStd < 0:
		return fmt.Errorf("%w: --clip-grad and --init-method-std must not be negative", ErrConfig)
	case c.BucketElems < 0 || c.SaveInterval < 0:
		return fmt.Errorf("%w: bucket size and --save-interval must not be negative", ErrConfig)
	}
	if c.PartitionLayers != nil {
		sum := 0
		for _, n := range c.PartitionLayers {
			if n < 1 {
				return fmt.Errorf("%w: --partition-layers %v: every stage needs at least one layer", ErrConfig, c.PartitionLayers)
			}
			sum += n
		}
		if len(c.PartitionLayers) != c.PP || sum != L {
			return fmt.Errorf("%w: --partition-layers %v must have %d entries (one per pipeline stage) summing to the %d layers",
				ErrConfig, c.PartitionLayers, c.PP, L)
		}
	}
	if err := c.LR.Validate(); err != nil {
		return fmt.Errorf("%w: %w", ErrConfig, err)
	}
	switch c.Precision {
	case npu.F32, npu.BF16:
	case npu.F16:
		return c.LossScale.Validate()
	default:
		return fmt.Errorf("%w: unknown precision %v: train in fp32, --fp16 or --bf16", ErrConfig, c.Precision)
	}
	return nil
}

// Partition returns the blocks of each pipeline stage.
func (c RankConfig) Partition() []int {
	if c.PartitionLayers != nil {
		return append([]int(nil), c.PartitionLayers...)
	}
	out := make([]int, c.PP)
	for i := range out {
		out[i] = c.Model.Layers / c.PP
	}
	return out
}

// stagePart is the part of the model that pipeline stage pp and
// tensor-parallel rank tp hold under a layout.
func stagePart(partition []int, tpSize, pp, tp int) bloom.Part {
	first := 0
	for _, n := range partition[:pp] {
		first += n
	}
	return bloom.Part{TP: tpSize, TPRank: tp, First: first, Layers: partition[pp],
		Embed: pp == 0, Head: pp == len(partition)-1}
}

// Part is the part of the model this rank holds.
func (c RankConfig) Part() bloom.Part {
	at := c.Coords()
	return stagePart(c.Partition(), c.TP, at.PP, at.TP)
}

// MicroBatches is the number of micro-batches each rank runs per step.
func (c RankConfig) MicroBatches() int { return c.GlobalBatch / (c.MicroBatch * c.DP) }

// Groups lists, each in group-rank order, the global ranks of the groups
// this rank belongs to: what the daemon needs to set up the communicators
// (a group of one needs none). Embed is the first and last pipeline stage of
// this rank's (dp, tp), for the ranks on those stages when PP > 1, else nil.
func (c RankConfig) Groups() (tp, dp, pp, embed []int) {
	at := c.Coords()
	for i := range c.TP {
		tp = append(tp, c.Layout.Rank(Coords{TP: i, DP: at.DP, PP: at.PP}))
	}
	for i := range c.DP {
		dp = append(dp, c.Layout.Rank(Coords{TP: at.TP, DP: i, PP: at.PP}))
	}
	for i := range c.PP {
		pp = append(pp, c.Layout.Rank(Coords{TP: at.TP, DP: at.DP, PP: i}))
	}
	if c.PP > 1 && (at.PP == 0 || at.PP == c.PP-1) {
		embed = []int{pp[0], pp[c.PP-1]}
	}
	return tp, dp, pp, embed
}

// Neighbours returns the ranks of the previous and next pipeline stage of
// this (dp, tp), or -1 at the ends of the pipeline.
func (c RankConfig) Neighbours() (prev, next int) {
	at := c.Coords()
	prev, next = -1, -1
	if at.PP > 0 {
		prev = c.Layout.Rank(Coords{TP: at.TP, DP: at.DP, PP: at.PP - 1})
	}
	if at.PP < c.PP-1 {
		next = c.Layout.Rank(Coords{TP: at.TP, DP: at.DP, PP: at.PP + 1})
	}
	return prev, next
}
