package trainer

import (
	"time"

	"bloom/trainer/bloom"
	"bloom/trainer/tensorboard"
)

// TensorBoardLog writes a run's steps to TensorBoard event files as
// Megatron-DeepSpeed does (--tensorboard-dir): its tags, each against the
// iteration, the consumed samples and tokens, written by one rank (the
// last, which holds the loss) after every step. Its values are the ones
// Megatron's training_log receives: the learning rate and loss scale after
// the step (StepStats.NextLR, NextLossScale), so that the curves lie on
// AscendSpeed's.
//
// Its iteration time (and the throughputs derived from it) is Megatron's
// interval-time: the wall-clock time from one logged iteration to the next
// (ascendspeed/training.py @64b1937a L1148, L1030), not the step's own
// StepStats.Seconds, so that it holds what runs between two steps as well:
// the report itself and a checkpoint save (made after the step it follows,
// so in the next one's time, as in Megatron). Validation, which Megatron
// runs after training_log and so counts in the next iteration, runs here
// before its step is reported: the time beyond Seconds of a step reported
// with a validation loss is carried into the next step's. The first step
// reported takes its Seconds.
type TensorBoardLog struct {
	w     *tensorboard.Writer
	flags tensorboard.Flags
	cfg   RankConfig
	model bloom.Config

	now   func() time.Time
	last  time.Time // when the last step was reported; zero before the first
	carry float64   // seconds the last step's validation took, for this one
}

// OpenTensorBoard starts a new event file in dir for the run cfg of a
// model of shape model. flags choose the optional scalars (Megatron's
// --log-timers-to-tensorboard, --log-batch-size-to-tensorboard); the loss
// scale is written under --fp16 only.
func OpenTensorBoard(dir string, cfg RankConfig, model bloom.Config, flags tensorboard.Flags) (*TensorBoardLog, error) {
	w, err := tensorboard.Create(dir, time.Now())
	if err != nil {
		return nil, err
	}
	return &TensorBoardLog{w: w, flags: flags, cfg: cfg, model: model, now: time.Now}, nil
}

// iterationTime is the seconds to write as st's iteration time, st being
// reported at now.
func (t *TensorBoardLog) iterationTime(st StepStats, now time.Time) float64 {
	sec := st.Seconds
	if !t.last.IsZero() {
		extra := max(0, now.Sub(t.last).Seconds()-st.Seconds)
		sec += t.carry
		t.carry = 0
		if st.ValLoss != 0 || st.FinalValLoss != 0 { // validation time is the next step's (none after the last)
			t.carry = extra
		} else {
			sec += extra
		}
	}
	t.last = now
	return sec
}

// Step writes one step's scalars and flushes them (a reader sees every
// finished step).
func (t *TensorBoardLog) Step(st StepStats) error {
	c, now := t.cfg, t.now()
	sec := t.iterationTime(st, now)
	tp := StepThroughput(t.model, st.Batch, c.SeqLength, c.World(), sec, c.Recompute, 0)
	it := tensorboard.Iteration{Step: int64(st.Step), Samples: st.Consumed, Tokens: st.Consumed * int64(c.SeqLength),
		LR: st.NextLR, BatchSize: int64(st.Batch), LMLoss: st.Loss, LossScale: st.NextLossScale, GradNorm: st.GradNorm,
		NoGradNorm: st.Skipped, IterationTime: sec, SeqLength: int64(c.SeqLength), DataParallel: int64(c.Layout.DP),
		TFLOPs: tp.TFLOPsPerDevice}
	f := t.flags
	f.LossScale = f.LossScale && st.NextLossScale > 0
	points := it.Points(f)
	for _, v := range []float64{st.ValLoss, st.FinalValLoss} { // the same tags and x, as Megatron writes both
		if v != 0 {
			points = append(points, tensorboard.Validation{Step: int64(st.Step), Samples: st.Consumed,
				Tokens: st.Consumed * int64(c.SeqLength), LMLoss: v}.Points(f)...)
		}
	}
	if err := t.w.Points(points, now); err != nil {
		return err
	}
	return t.w.Flush()
}

// Close ends the event file.
func (t *TensorBoardLog) Close() error { return t.w.Close() }
