package trainer

import (
	"fmt"
	"math"
)

// Schedule is Megatron's AnnealingLR counted in samples: linear warmup from 0
// to MaxLR over WarmupSamples, then decay to MinLR at DecaySamples, then MinLR.
// Like Megatron, the first update (0 samples consumed) uses lr 0 when there is
// a warmup.
type Schedule struct {
	MaxLR, MinLR  float64
	WarmupSamples int64
	DecaySamples  int64  // 0 = no decay after warmup
	Style         string // "cosine", "linear" or "constant"
}

// Validate reports a schedule that cannot run.
func (s Schedule) Validate() error {
	switch {
	case s.MaxLR < 0 || s.MinLR < 0 || s.MinLR > s.MaxLR:
		return fmt.Errorf("trainer: learning rates must satisfy 0 ≤ min-lr (%g) ≤ lr (%g)", s.MinLR, s.MaxLR)
	case s.WarmupSamples < 0 || s.DecaySamples < 0:
		return fmt.Errorf("trainer: warmup and decay sample counts must not be negative")
	case s.DecaySamples > 0 && s.DecaySamples < s.WarmupSamples:
		return fmt.Errorf("trainer: lr decay samples (%d) must be at least the warmup samples (%d)", s.DecaySamples, s.WarmupSamples)
	}
	switch s.Style {
	case "cosine", "linear", "constant":
		return nil
	}
	return fmt.Errorf("trainer: unknown lr decay style %q (cosine, linear or constant)", s.Style)
}

// LR is the learning rate after consumed samples.
func (s Schedule) LR(consumed int64) float64 {
	if s.WarmupSamples > 0 && consumed <= s.WarmupSamples {
		return s.MaxLR * float64(consumed) / float64(s.WarmupSamples)
	}
	if s.Style == "constant" || s.DecaySamples == 0 {
		return s.MaxLR
	}
	if consumed > s.DecaySamples {
		return s.MinLR
	}
	ratio := float64(consumed-s.WarmupSamples) / float64(s.DecaySamples-s.WarmupSamples)
	coeff := 1 - ratio
	if s.Style == "cosine" {
		coeff = 0.5 * (math.Cos(math.Pi*ratio) + 1)
	}
	return s.MinLR + (s.MaxLR-s.MinLR)*coeff
}
