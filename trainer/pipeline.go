package trainer

import "fmt"

// The 1F1B pipeline schedule as data: which micro-batch a stage runs forward
// or backward, in order. It does no I/O; pipeline_exec.go runs it.

// PipeOpKind is a forward or a backward pass of one micro-batch.
type PipeOpKind int

const (
	Forward PipeOpKind = iota
	Backward
)

func (k PipeOpKind) String() string {
	if k == Forward {
		return "F"
	}
	return "B"
}

// PipeOp is one pass of one micro-batch on one stage. A forward on a stage
// that is not the first starts by receiving the micro-batch's activations
// from the previous stage, and one on a stage that is not the last ends by
// sending its output on; a backward receives the output's gradient from the
// next stage (unless last) and sends the input's gradient back (unless
// first).
type PipeOp struct {
	Kind  PipeOpKind
	Micro int
}

func (o PipeOp) String() string { return fmt.Sprintf("%v%d", o.Kind, o.Micro) }

// OneFOneB is Megatron's non-interleaved 1F1B schedule for stage of stages
// running micro micro-batches: warmup forwards (stages−stage−1 of them, at
// most micro), then one forward and one backward in turn, then the remaining
// backwards. Micro-batches go forward and backward in order, and at most
// stages−stage are in flight (forwarded, not yet backwarded) at once.
func OneFOneB(stages, stage, micro int) []PipeOp {
	warmup := min(stages-stage-1, micro)
	ops := make([]PipeOp, 0, 2*micro)
	for i := range warmup {
		ops = append(ops, PipeOp{Forward, i})
	}
	for i := range micro - warmup {
		ops = append(ops, PipeOp{Forward, warmup + i}, PipeOp{Backward, i})
	}
	for i := micro - warmup; i < micro; i++ {
		ops = append(ops, PipeOp{Backward, i})
	}
	return ops
}

// InFlight is the most micro-batches stage keeps between forward and
// backward under OneFOneB: the activation slots it needs.
func InFlight(stages, stage, micro int) int { return min(stages-stage, micro) }

// BubbleFraction is the share of a 1F1B step a stage idles when forward and
// backward take fixed times and communication is free: (p−1)/(m+p−1).
func BubbleFraction(stages, micro int) float64 {
	return float64(stages-1) / float64(micro+stages-1)
}
