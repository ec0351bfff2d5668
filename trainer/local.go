package trainer

import (
	"context"
	"fmt"

	"bloom/trainer/bloom"
)

// Source yields training samples: Sample fills dst (seq+1 tokens) with the
// sample numbered i in the run's order. It keeps no reference to dst.
type Source interface {
	Sample(i int64, dst []int32) error
}

// TargetSource is a Source whose samples carry their own next-token
// targets (SeqLength of them, npu.IgnoreIndex where no loss: instruction
// data with its prompt masked) instead of the sample shifted by one.
type TargetSource interface {
	Source
	Targets(i int64, dst []int32) error
}

// loadSample puts sample i's ids (T) and targets (T) into ids and targets,
// sample being scratch of T+1.
func loadSample(src Source, i int64, sample, ids, targets []int32) error {
	if err := src.Sample(i, sample); err != nil {
		return err
	}
	T := len(ids)
	copy(ids, sample[:T])
	if ts, ok := src.(TargetSource); ok {
		return ts.Targets(i, targets)
	}
	copy(targets, sample[1:])
	return nil
}

// StepStats describe one finished optimizer step.
type StepStats struct {
	Step int     `json:"step"` // 1-based
	Loss float64 `json:"loss"` // mean over the step's micro-batches
	LR   float64 `json:"lr"`   // the learning rate this step used
	// NextLR is the learning rate after this step, the next step's (LR
	// again after a skipped step, whose schedule did not move): what
	// Megatron-DeepSpeed and AscendSpeed log as this iteration's learning
	// rate (their scheduler steps inside the optimizer step, before
	// training_log reads it), so what TensorBoard's learning-rate tags
	// carry (TensorBoardLog).
	NextLR   float64 `json:"next_lr"`
	GradNorm float64 `json:"grad_norm"` // before clipping
	Consumed int64   `json:"consumed_samples"`
	Batch    int     `json:"batch_size"` // the step's global batch (--rampup-batch-size makes it vary)
	// ValLoss and ValPPL are the validation loss and perplexity exp(min(20,
	// loss)), on the steps after which validation ran (Eval).
	ValLoss float64 `json:"val_loss,omitempty"`
	ValPPL  float64 `json:"val_ppl,omitempty"`
	// FinalValLoss and FinalValPPL, on the last step of a run with
	// validation: Megatron's validation at the end of training ("the end
	// of training for val data"), Eval.Iters more batches after every
	// earlier validation's.
	FinalValLoss float64 `json:"final_val_loss,omitempty"`
	FinalValPPL  float64 `json:"final_val_ppl,omitempty"`
	TokensPerSec float64 `json:"tokens_per_s"`
	Seconds      float64 `json:"seconds"`
	// Where a rank's step time went: its micro-batches' forward and
	// backward passes (Compute; 1 − Compute/Seconds is its pipeline bubble
	// plus the optimizer and the waits), blocked receiving activations or
	// gradients from its neighbouring stages, and waiting for the
	// data-parallel gradient reduction after its backward finished.
	Compute  float64 `json:"compute_s,omitempty"`
	PipeWait float64 `json:"pipe_wait_s,omitempty"`
	DPWait   float64 `json:"dp_wait_s,omitempty"`
	// Stop: the ranks agreed to stop after this step (Env.Stop); its
	// checkpoint is saved next.
	Stop bool `json:"stop,omitempty"`
	// Under --fp16: the loss scale this step's loss was multiplied by,
	// whether its gradients overflowed and the update was skipped (no
	// AdamW step, no learning-rate step; the samples are consumed), and
	// the steps skipped so far in the run. GradNorm is then the unscaled
	// norm, 0 on a skipped step (it overflowed).
	LossScale    float64 `json:"loss_scale,omitempty"`
	Skipped      bool    `json:"skipped,omitempty"`
	SkippedSteps int64   `json:"skipped_steps,omitempty"`
	// NextLossScale, under --fp16: the scale after this step's verdict,
	// the next step's; Megatron logs it as this iteration's loss scale
	// (DeepSpeed's cur_scale, read after the optimizer step), and so do
	// TensorBoard's loss-scale tags.
	NextLossScale float64 `json:"next_loss_scale,omitempty"`
}

// Local trains a whole model in this process: the one rank of a job with
// TP = PP = DP = 1, on a model the caller built (loaded, adapted,
// initialized as it likes). With Cfg.Save it writes native checkpoints
// there as a job's rank does (every Cfg.SaveInterval steps, after the last,
// and when Stop asks); with Cfg.Load, a native step directory, it resumes
// from it exactly: weights, AdamW moments, step and data position.
type Local struct {
	// Cfg is the run: batch, length, clipping, AdamW and learning-rate
	// schedule, as jobspec.Spec.TrainConfig or DefaultRankConfig give it.
	// The model's shape and the layout (one rank, the whole model) come
	// from Model; Seed is not used (the caller initialized Model). Save is
	// a native checkpoint root or empty; Load a committed native
	// checkpoint (a step directory or a root) or empty.
	Cfg   RankConfig
	Model *bloom.Model
	Data  Source // the samples; the optimizer is a fresh AdamW with Cfg.Adam
	Valid Source // validation samples, when Cfg.Eval asks for validation
	// LoRABase is where a LoRA model's frozen weights came from ("" = the
	// initialization from Cfg.Seed and Cfg.InitStd), recorded in its
	// checkpoints.
	LoRABase string
	// Stop, when not nil, is asked after every step whether to stop: the run
	// then saves a checkpoint of that step (with Cfg.Save) and Run returns
	// ErrStopped. It must be safe to call while another goroutine asks.
	Stop func() bool
	// Logf, when not nil, gets notes on where the run starts from.
	Logf func(format string, args ...any)
}

// Validate reports a run that cannot start, saying what to change. It
// needs Model but not Data.
func (l *Local) Validate() error {
	switch m := l.Model; {
	case m == nil:
		return fmt.Errorf("%w: a local run needs a model", ErrConfig)
	case !m.Part.Full(m.Cfg):
		return fmt.Errorf("%w: a local run trains a whole model, not the part %+v", ErrConfig, m.Part)
	}
	return l.config().Validate()
}

// config is the run's RankConfig: Cfg as the one rank of a job with
// TP = PP = DP = 1 on Model's shape.
func (l *Local) config() RankConfig {
	cfg := l.Cfg
	cfg.Model, cfg.Rank, cfg.Layout, cfg.PartitionLayers = l.Model.Cfg, 0, Layout{TP: 1, PP: 1, DP: 1}, nil
	return cfg
}

// Run trains for Cfg.Steps steps, calling report after each. It stops early,
// returning ctx.Err(), when ctx is done.
func (l *Local) Run(ctx context.Context, report func(StepStats)) error {
	if err := l.Validate(); err != nil {
		return err
	}
	r, err := l.rank(report)
	if err != nil {
		return err
	}
	return r.Run(ctx)
}

// rank is the run as a Rank of one.
func (l *Local) rank(report func(StepStats)) (*Rank, error) {
	m, cfg := l.Model, l.config()
	r, err := newRank(cfg, Env{Dev: m.Dev, Data: l.Data, Valid: l.Valid, Report: report, Stop: l.Stop, Logf: l.Logf}, "trainer")
	if err != nil {
		return nil, err
	}
	if err := r.attach(m, NewAdamW(m, cfg.Adam)); err != nil {
		return nil, err
	}
	r.loraBase = l.LoRABase
	if cfg.Load != "" {
		step, err := stepDir(cfg.Load)
		if err != nil {
			return nil, err
		}
		if err := r.loadNative(step); err != nil {
			return nil, err
		}
	}
	return r, nil
}
