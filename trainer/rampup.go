package trainer

import (
	"context"
	"fmt"
)

// Rampup is Megatron's --rampup-batch-size START INCREMENT SAMPLES, as
// BLOOM trained: the global batch starts at Start and grows by Increment
// in equal shares of the first Samples samples, reaching
// --global-batch-size after them (ascendspeed/microbatches.py
// RampupBatchsizeNumMicroBatches). The zero value is no ramp-up.
type Rampup struct {
	Start, Increment int
	Samples          int64
}

// On reports whether r ramps the batch up.
func (r Rampup) On() bool { return r.Start > 0 }

// Validate reports a ramp-up that cannot reach global in whole micro-batch
// rounds of unit (micro-batch × data-parallel size) samples.
func (r Rampup) Validate(global, unit int) error {
	switch {
	case !r.On():
		return nil
	case r.Increment <= 0 || r.Samples <= 0 || r.Start > global:
		return fmt.Errorf("%w: --rampup-batch-size %d %d %d: a start up to --global-batch-size %d, a positive increment and samples", ErrConfig, r.Start, r.Increment, r.Samples, global)
	case (global-r.Start)%r.Increment != 0:
		return fmt.Errorf("%w: --rampup-batch-size: --global-batch-size %d minus the start %d is not a multiple of the increment %d", ErrConfig, global, r.Start, r.Increment)
	case r.Start%unit != 0 || r.Increment%unit != 0:
		return fmt.Errorf("%w: --rampup-batch-size: the start %d and increment %d must be multiples of --micro-batch-size × data-parallel size = %d", ErrConfig, r.Start, r.Increment, unit)
	}
	return nil
}

// Batch is the global batch of the step that starts after consumed
// samples.
func (r Rampup) Batch(global int, consumed int64) int {
	if !r.On() || consumed > r.Samples || r.Start == global {
		return global
	}
	perIncrement := float64(r.Samples) / float64((global-r.Start)/r.Increment)
	return min(global, r.Start+int(float64(consumed)/perIncrement)*r.Increment)
}

// Iterations is the run length of trainSamples samples under the ramp-up,
// as Megatron's update_train_iters counts it: the ramp-up's steps, then
// whole global batches.
func (r Rampup) Iterations(global int, trainSamples int64) int64 {
	if !r.On() {
		return trainSamples / int64(global)
	}
	var consumed, iters int64
	for consumed <= r.Samples {
		consumed += int64(r.Batch(global, consumed))
		iters++
	}
	return iters + (trainSamples-consumed)/int64(global)
}

// Eval is Megatron's --eval-interval and --eval-iters: after every
// Interval-th step, the mean loss of Iters global batches of validation
// samples (Iters 0: none).
type Eval struct {
	Interval, Iters int
}

// evalWindow is where the validation after step reads and how many
// samples a batch: Megatron evaluates Iters batches of the size the step
// just ran (under a ramp-up DeepSpeed's pipeline evaluates its current
// micro-batches, not the full global batch) and advances its consumed
// validation samples by them, so each evaluation starts after every
// earlier one's samples. final is the validation at the end of training
// after step (Megatron's "the end of training for val data"), which also
// starts after step's own.
func evalWindow(ramp Rampup, global int, ev Eval, step int, final bool) (base int64, batch int) {
	var consumed int64
	for s := 1; s <= step; s++ {
		batch = ramp.Batch(global, consumed)
		consumed += int64(batch)
		if s%ev.Interval == 0 && (s < step || final) {
			base += int64(ev.Iters) * int64(batch)
		}
	}
	return base, batch
}

// evaluate is this step's validation: Eval.Iters batches (evalWindow) of
// the validation samples, forward only, the loss averaged over them and
// the data-parallel replicas and passed from the last stage to every rank.
func (r *Rank) evaluate(ctx context.Context) (float64, error) {
	base, batch := evalWindow(r.Cfg.Rampup, r.Cfg.GlobalBatch, r.Cfg.Eval, r.step, false)
	return r.evaluateAt(ctx, base, batch)
}

// evaluateAt is a validation of Eval.Iters batches of batch samples from
// base.
func (r *Rank) evaluateAt(ctx context.Context, base int64, batch int) (float64, error) {
	c := r.Cfg
	if r.env.Valid == nil {
		return 0, fmt.Errorf("%w: --eval-iters needs validation data (Env.Valid)", ErrConfig)
	}
	total := 0.0
	for it := range c.Eval.Iters {
		loss, err := r.pipe.evaluate(ctx, r.env.Valid, base+int64(it*batch), batch)
		if err != nil {
			return 0, err
		}
		total += loss / float64(c.Eval.Iters)
	}
	loss, _, err := r.meanLoss(ctx, total, 0)
	return loss, err
}
