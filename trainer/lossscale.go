package trainer

import (
	"errors"
	"fmt"
	"math"
)

// LossScaleRule selects which of DeepSpeed's two dynamic loss-scale update
// rules a LossScaler follows. DeepSpeed carries both, and which one runs
// depends on the optimizer wrapper the engine builds, not on the JSON.
type LossScaleRule int

const (
	// RuleLossScaler is DynamicLossScaler.update_scale
	// (runtime/fp16/loss_scaler.py), the rule ZeRO stages 1–3 run: the
	// scale halves only once the hysteresis is spent, doubles after Window
	// clean iterations, and an overflow that would halve a scale already at
	// the minimum stops the run.
	RuleLossScaler LossScaleRule = iota
	// RuleFP16Optimizer is FP16_Optimizer._update_scale and
	// FP16_UnfusedOptimizer._update_scale (runtime/fp16/fused_optimizer.py,
	// unfused_optimizer.py), the rule of ZeRO stage 0 with --fp16: every
	// overflow halves the scale (Hysteresis and ConsecutiveHysteresis are
	// read from the JSON but never used), the scale doubles after Window+1
	// clean iterations, and the minimum only clamps.
	RuleFP16Optimizer
)

func (r LossScaleRule) String() string {
	switch r {
	case RuleLossScaler:
		return "DynamicLossScaler"
	case RuleFP16Optimizer:
		return "FP16_Optimizer"
	}
	return fmt.Sprintf("LossScaleRule(%d)", int(r))
}

// LossScaleConfig is the fp16 dynamic loss scaler's configuration. The
// fields are Megatron's flags; DeepSpeed's JSON keys (its "fp16" section,
// with "loss_scale": 0 meaning dynamic) map to them as noted.
//
// The seed's Bloom-7B run (SeedLossScaleConfig) sets initial_scale_power
// 12, loss_scale_window 500, hysteresis 2, min_loss_scale 1.
type LossScaleConfig struct {
	// InitialScalePower is log2 of the first scale: --initial-loss-scale is
	// 2^InitialScalePower; DeepSpeed's initial_scale_power. Megatron's
	// default is 32, DeepSpeed's JSON default 16, the seed's 12.
	InitialScalePower int
	// Window is the number of clean iterations after which the scale
	// doubles: --loss-scale-window, DeepSpeed's loss_scale_window. Default
	// 1000 in both, the seed's 500.
	Window int
	// Hysteresis is how many overflows (since the last doubling) it takes
	// to halve the scale: --hysteresis, DeepSpeed's hysteresis (the
	// scaler's delayed_shift). Default 2 in both, the seed's 2.
	Hysteresis int
	// MinScale is the floor of the scale: --min-loss-scale, DeepSpeed's
	// min_loss_scale. Default 1 in both, the seed's 1.
	MinScale float64
	// ConsecutiveHysteresis refills the hysteresis on every clean iteration
	// instead of only when the scale doubles, so only consecutive overflows
	// halve: DeepSpeed's consecutive_hysteresis (no Megatron flag). Default
	// false, and the seed leaves it unset.
	ConsecutiveHysteresis bool
	// Rule is the update rule; the zero value is DynamicLossScaler's.
	Rule LossScaleRule
}

// DefaultLossScaleConfig returns Megatron's defaults for the flags
// (--initial-loss-scale 2^32, --loss-scale-window 1000, --hysteresis 2,
// --min-loss-scale 1) under DynamicLossScaler's rule.
func DefaultLossScaleConfig() LossScaleConfig {
	return LossScaleConfig{InitialScalePower: 32, Window: 1000, Hysteresis: 2, MinScale: 1}
}

// SeedLossScaleConfig returns the seed's Bloom-7B fp16 settings:
// {"loss_scale": 0, "initial_scale_power": 12, "loss_scale_window": 500,
// "hysteresis": 2, "min_loss_scale": 1}.
func SeedLossScaleConfig() LossScaleConfig {
	return LossScaleConfig{InitialScalePower: 12, Window: 500, Hysteresis: 2, MinScale: 1}
}

// maxScalePower bounds --initial-loss-scale: the scale multiplies an fp32
// loss, and 2^128 is past float32's range.
const maxScalePower = 127

// Validate reports the first setting a LossScaler cannot run with, naming
// its flag.
func (c LossScaleConfig) Validate() error {
	switch {
	case c.InitialScalePower < 0 || c.InitialScalePower > maxScalePower:
		return fmt.Errorf("%w: --initial-loss-scale must be a power of two from 1 to 2^%d (DeepSpeed's initial_scale_power 0 to %d), got 2^%d",
			ErrConfig, maxScalePower, maxScalePower, c.InitialScalePower)
	case c.Window < 1:
		return fmt.Errorf("%w: --loss-scale-window must be at least 1 iteration, got %d", ErrConfig, c.Window)
	case c.Hysteresis < 1:
		return fmt.Errorf("%w: --hysteresis must be at least 1 overflow, got %d", ErrConfig, c.Hysteresis)
	case !(c.MinScale > 0) || c.MinScale > math.Ldexp(1, c.InitialScalePower):
		return fmt.Errorf("%w: --min-loss-scale must be positive and at most --initial-loss-scale 2^%d, got %g",
			ErrConfig, c.InitialScalePower, c.MinScale)
	case c.Rule != RuleLossScaler && c.Rule != RuleFP16Optimizer:
		return fmt.Errorf("%w: unknown loss-scale rule %d", ErrConfig, int(c.Rule))
	}
	return nil
}

// ErrLossScaleAtMinimum is DeepSpeed's "Current loss scale already at
// minimum - cannot decrease scale anymore. Exiting run.": under
// RuleLossScaler, an overflow that would halve a scale already at
// --min-loss-scale ends the run.
var ErrLossScaleAtMinimum = errors.New("trainer: fp16 loss scale already at --min-loss-scale and the gradients still overflow: lower --min-loss-scale or the learning rate, or train in --bf16")

// LossScaleState is a LossScaler's whole changing state, what a checkpoint
// keeps so that a resumed run scales, skips and counts bit for bit as the
// uninterrupted one. The names follow DeepSpeed's (cur_scale, cur_iter,
// last_overflow_iter, cur_hysteresis; the engine's skipped_steps).
type LossScaleState struct {
	Scale            float64 `json:"scale"`              // the scale the next step multiplies its loss by
	CurIter          int64   `json:"cur_iter"`           // updates so far, skipped ones included
	LastOverflowIter int64   `json:"last_overflow_iter"` // the last overflowing update's CurIter, -1 before any
	CurHysteresis    int     `json:"cur_hysteresis"`     // overflows left before the scale halves
	Skipped          int64   `json:"skipped_steps"`      // updates skipped for overflow
}

// LossScaler is DeepSpeed's dynamic loss scaler for fp16 training. Each
// step multiplies its fp32 loss by Scale() before the backward, checks
// the (data-parallel reduced) gradients for Inf or NaN, agrees on the
// answer with every rank that holds a part of the model, and passes it to
// Update: on an overflow the step is skipped (no optimizer update, no
// learning-rate step); otherwise the gradients are divided by the scale
// (see GradFactor) before clipping and AdamW. It does no I/O and keeps no
// slices.
type LossScaler struct {
	cfg LossScaleConfig
	st  LossScaleState
}

// NewLossScaler returns a scaler at its initial state: scale
// 2^InitialScalePower, full hysteresis, no iterations.
func NewLossScaler(c LossScaleConfig) (*LossScaler, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return &LossScaler{cfg: c, st: LossScaleState{
		Scale:            math.Ldexp(1, c.InitialScalePower),
		LastOverflowIter: -1,
		CurHysteresis:    c.Hysteresis,
	}}, nil
}

// Scale returns the factor the next step's loss is multiplied by.
func (s *LossScaler) Scale() float64 { return s.st.Scale }

// Skipped returns how many updates were skipped for overflow.
func (s *LossScaler) Skipped() int64 { return s.st.Skipped }

// Update records one step's outcome and moves the scale by the configured
// rule. overflow must be the same on every rank (the caller ORs it across
// the tensor- and pipeline-parallel ranks after the data-parallel
// reduction, as DeepSpeed all-reduces it with MAX). skip is overflow: the
// step's gradients are dropped. Every call counts an iteration, skipped or
// not. Under RuleLossScaler an overflow that would halve a scale already
// at the minimum returns ErrLossScaleAtMinimum and leaves the state as it
// was.
func (s *LossScaler) Update(overflow bool) (skip bool, err error) {
	if s.cfg.Rule == RuleFP16Optimizer {
		s.updateFP16Optimizer(overflow)
	} else if err := s.updateLossScaler(overflow); err != nil {
		return true, err
	}
	if overflow {
		s.st.Skipped++
	}
	s.st.CurIter++
	return overflow, nil
}

// updateLossScaler is DynamicLossScaler.update_scale without its final
// cur_iter += 1.
func (s *LossScaler) updateLossScaler(overflow bool) error {
	c, st := &s.cfg, &s.st
	if overflow {
		if c.Hysteresis == 1 || st.CurHysteresis == 1 {
			if st.Scale == c.MinScale {
				return fmt.Errorf("%w (scale %g at iteration %d)", ErrLossScaleAtMinimum, st.Scale, st.CurIter)
			}
			st.Scale = math.Max(st.Scale/2, c.MinScale)
		} else {
			st.CurHysteresis--
		}
		st.LastOverflowIter = st.CurIter
		return nil
	}
	if c.ConsecutiveHysteresis {
		st.CurHysteresis = c.Hysteresis
	}
	if (st.CurIter-st.LastOverflowIter)%int64(c.Window) == 0 {
		if !c.ConsecutiveHysteresis {
			st.CurHysteresis = c.Hysteresis
		}
		st.Scale *= 2
	}
	return nil
}

// updateFP16Optimizer is FP16_Optimizer._update_scale without its final
// cur_iter += 1.
func (s *LossScaler) updateFP16Optimizer(overflow bool) {
	st := &s.st
	if overflow {
		st.Scale = math.Max(st.Scale/2, s.cfg.MinScale)
		st.LastOverflowIter = st.CurIter
		return
	}
	stable := st.CurIter - st.LastOverflowIter - 1
	if stable > 0 && stable%int64(s.cfg.Window) == 0 {
		st.Scale *= 2
	}
}

// GradFactor returns what the step multiplies its scaled gradients by to
// unscale and clip them in one pass, as DeepSpeed's unscale_and_clip_grads
// does: scaledNorm is the global L2 norm of the still-scaled gradients;
// with clipGrad > 0 and an unscaled norm (plus 1e-6) above clipGrad the
// factor also shrinks the norm to clipGrad.
func (s *LossScaler) GradFactor(scaledNorm, clipGrad float64) float64 {
	combined := s.st.Scale
	if clipGrad > 0 {
		if clip := (scaledNorm/s.st.Scale + 1e-6) / clipGrad; clip > 1 {
			combined = clip * s.st.Scale
		}
	}
	return 1 / combined
}

// State returns a copy of the scaler's state for a checkpoint.
func (s *LossScaler) State() LossScaleState { return s.st }

// Restore sets the state from a checkpoint taken by State. The scaler
// keeps its own configuration (the resumed run's flags); a state that
// configuration could not have produced is refused, naming the flag.
func (s *LossScaler) Restore(st LossScaleState) error {
	c := s.cfg
	switch {
	case math.IsNaN(st.Scale) || math.IsInf(st.Scale, 0) || st.Scale < c.MinScale:
		return fmt.Errorf("%w: checkpointed loss scale %g is below --min-loss-scale %g", ErrMismatch, st.Scale, c.MinScale)
	case st.CurIter < 0 || st.LastOverflowIter < -1 || st.LastOverflowIter >= st.CurIter:
		return fmt.Errorf("%w: checkpointed loss scaler at iteration %d with its last overflow at %d", ErrMismatch, st.CurIter, st.LastOverflowIter)
	case st.CurHysteresis < 1 || st.CurHysteresis > c.Hysteresis:
		return fmt.Errorf("%w: checkpointed loss scaler has %d overflows of hysteresis left, outside 1 to --hysteresis %d", ErrMismatch, st.CurHysteresis, c.Hysteresis)
	case st.Skipped < 0 || st.Skipped > st.CurIter:
		return fmt.Errorf("%w: checkpointed loss scaler skipped %d of %d iterations", ErrMismatch, st.Skipped, st.CurIter)
	}
	s.st = st
	return nil
}
