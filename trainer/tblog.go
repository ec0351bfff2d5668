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
type TensorBoardLog struct {
	w     *tensorboard.Writer
	flags tensorboard.Flags
	cfg   RankConfig
	model bloom.Config
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
	return &TensorBoardLog{w: w, flags: flags, cfg: cfg, model: model}, nil
}

// Step writes one step's scalars and flushes them (a reader sees every
// finished step).
func (t *TensorBoardLog) Step(st StepStats) error {
	c := t.cfg
	tp := StepThroughput(t.model, st.Batch, c.SeqLength, c.World(), st.Seconds, c.Recompute, 0)
	it := tensorboard.Iteration{Step: int64(st.Step), Samples: st.Consumed, Tokens: st.Consumed * int64(c.SeqLength),
		LR: st.NextLR, BatchSize: int64(st.Batch), LMLoss: st.Loss, LossScale: st.NextLossScale, GradNorm: st.GradNorm,
		NoGradNorm: st.Skipped, IterationTime: st.Seconds, SeqLength: int64(c.SeqLength), DataParallel: int64(c.Layout.DP),
		TFLOPs: tp.TFLOPsPerDevice}
	f := t.flags
	f.LossScale = f.LossScale && st.NextLossScale > 0
	points := it.Points(f)
	if st.ValLoss != 0 {
		points = append(points, tensorboard.Validation{Step: int64(st.Step), Samples: st.Consumed,
			Tokens: st.Consumed * int64(c.SeqLength), LMLoss: st.ValLoss}.Points(f)...)
	}
	if err := t.w.Points(points, time.Now()); err != nil {
		return err
	}
	return t.w.Flush()
}

// Close ends the event file.
func (t *TensorBoardLog) Close() error { return t.w.Close() }
