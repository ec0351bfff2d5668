package tensorboard

import "math"

// Megatron-DeepSpeed's tags, as AscendSpeed writes them (Ascend/AscendSpeed
// ascendspeed/training.py @64b1937a: training_log L882–1055 and
// evaluate_and_print_results L1363–1380) and BigScience's fork that
// trained BLOOM (bigscience-workshop/Megatron-DeepSpeed
// megatron/training.py @8387ae1). The two differ: AscendSpeed adds
// seqlen/actual_seq_length; BigScience adds the throughput tags under
// iteration-time/ beside iteration-time itself, and the gigaflos x. A
// metric's tag is plotted against the iteration; the tag with VsSamples,
// VsTokens or VsGigaFLOs appended, against the consumed samples, tokens or
// gigaflos.
const (
	TagStepsVsSamples = "steps-vs-samples/y=steps,x=samples"
	TagSamplesVsSteps = "steps-vs-samples/y=samples,x=steps"
	TagStepsVsTokens  = "steps-vs-tokens/y=steps,x=tokens"
	TagTokensVsSteps  = "steps-vs-tokens/y=tokens,x=steps"

	TagLearningRate = "learning-rate/learning-rate"
	TagBatchSize    = "batch-size/batch-size"
	TagLMLoss       = "lm-loss-training/lm loss"
	TagLossScale    = "loss-scale/loss-scale"
	TagGradNorm     = "grad-norm/grad-norm"
	TagSeqLength    = "seqlen/actual_seq_length" // AscendSpeed only

	TagIterationTime              = "iteration-time/iteration-time"
	TagSamplesPerSecond           = "iteration-time/samples per second"
	TagSamplesPerSecondPerReplica = "iteration-time/samples per second per replica"
	TagTokensPerSecond            = "iteration-time/tokens per second"
	TagTokensPerSecondPerReplica  = "iteration-time/tokens per second per replica"
	TagTFLOPs                     = "iteration-time/TFLOPs per gpu (estimated)"
	// BigScience writes the five above; AscendSpeed computes samples per
	// second and TFLOPs for its console line only.

	TagValidationLoss = "lm-loss-validation/lm loss validation"
	TagValidationPPL  = "lm-loss-validation/lm loss validation ppl"

	VsSamples  = " vs samples"
	VsTokens   = " vs tokens"
	VsGigaFLOs = " vs gigaflos (without embeddings)"
)

// Point is one scalar to write: Value at x = Step under Tag.
type Point struct {
	Tag   string
	Step  int64
	Value float64
}

// Flags are Megatron's switches that choose which scalars it writes.
type Flags struct {
	LearningRate  bool // on unless --no-log-learnig-rate-to-tensorboard [sic]
	LossScale     bool // on unless --no-log-loss-scale-to-tensorboard
	BatchSize     bool // --log-batch-size-to-tensorboard
	Timers        bool // --log-timers-to-tensorboard: iteration time and throughput
	ValidationPPL bool // --log-validation-ppl-to-tensorboard
}

// BLOOMFlags are BLOOM-176B's: all on (bigscience train/tr11-176B-ml
// tr11-176B-ml.slurm sets the three opt-in flags, the other two are
// Megatron's defaults).
func BLOOMFlags() Flags {
	return Flags{LearningRate: true, LossScale: true, BatchSize: true, Timers: true, ValidationPPL: true}
}

// Iteration is what one training iteration reports, after its optimizer
// step: the inputs of Megatron's training_log.
type Iteration struct {
	Step     int64   // the iteration just done, counting from 1
	Samples  int64   // consumed_train_samples, this iteration's included
	Tokens   int64   // consumed_train_tokens, this iteration's included
	GigaFLOs float64 // gigaflos_no_embeds so far; 0 leaves out the loss's VsGigaFLOs point

	LR         float64 // optimizer.param_groups[0]['lr'] after the step: the next step's learning rate
	BatchSize  int64   // global batch size, samples
	LMLoss     float64 // the step's mean LM loss
	LossScale  float64 // the loss scale after the step's update (1 without a dynamic scaler)
	GradNorm   float64
	NoGradNorm bool // the optimizer returned no norm (a skipped step): Megatron writes none

	SeqLength int64 // tokens per sample: AscendSpeed's actual_seq_length (0 leaves it out)

	// With Flags.Timers, and only if IterationTime > 0:
	IterationTime float64 // seconds per iteration over the log interval
	DataParallel  int64   // replicas, for the per-replica throughputs
	TFLOPs        float64 // estimated TFLOPs per device, from the caller's formula
}

// Points returns the scalars AscendSpeed writes for this iteration, in its
// order, with --tensorboard-log-interval and --log-interval both 1
// (BLOOM's), followed by BigScience's throughput scalars. AscendSpeed
// writes seqlen/actual_seq_length on every iteration (its train loop sets
// args.actual_seq_length before training_log, L1181 and L928), after the
// grad norm. Samples and tokens per second are derived as BigScience does:
// BatchSize/IterationTime, times SeqLength, and each divided by
// DataParallel per replica. Not written: num-zeros, params-norm (off
// without --log-num-zeros-in-grad, --log-params-norm), the curriculum
// seqlen, and the per-timer scalars (at Megatron's default
// --timing-log-level 0 the only timer in training_log's list is
// save-checkpoint, which the save's own log has reset to 0 by then, and
// zero timers are left out).
func (it Iteration) Points(f Flags) []Point {
	p := []Point{
		{TagStepsVsSamples, it.Samples, float64(it.Step)},
		{TagSamplesVsSteps, it.Step, float64(it.Samples)},
		{TagStepsVsTokens, it.Tokens, float64(it.Step)},
		{TagTokensVsSteps, it.Step, float64(it.Tokens)},
	}
	if f.LearningRate {
		p = it.appendVs(p, TagLearningRate, it.LR, true)
	}
	if f.BatchSize {
		p = it.appendVs(p, TagBatchSize, float64(it.BatchSize), false)
	}
	p = it.appendVs(p, TagLMLoss, it.LMLoss, true)
	if it.GigaFLOs > 0 {
		p = append(p, Point{TagLMLoss + VsGigaFLOs, int64(it.GigaFLOs), it.LMLoss})
	}
	if f.LossScale {
		p = it.appendVs(p, TagLossScale, it.LossScale, true)
	}
	if !it.NoGradNorm {
		p = it.appendVs(p, TagGradNorm, it.GradNorm, true)
	}
	if it.SeqLength > 0 {
		p = it.appendVs(p, TagSeqLength, float64(it.SeqLength), true)
	}
	if f.Timers && it.IterationTime > 0 {
		p = it.appendVs(p, TagIterationTime, it.IterationTime, true)
		p = append(p, it.throughput()...)
	}
	return p
}

// appendVs appends tag's value against the step and the samples, and, if
// tokens, the tokens.
func (it Iteration) appendVs(p []Point, tag string, v float64, tokens bool) []Point {
	p = append(p, Point{tag, it.Step, v}, Point{tag + VsSamples, it.Samples, v})
	if tokens {
		p = append(p, Point{tag + VsTokens, it.Tokens, v})
	}
	return p
}

// throughput returns the samples, tokens and TFLOPs rates, against the step.
func (it Iteration) throughput() []Point {
	samples := float64(it.BatchSize) / it.IterationTime
	tokens := samples * float64(it.SeqLength)
	dp := float64(max(it.DataParallel, 1))
	return []Point{
		{TagSamplesPerSecond, it.Step, samples},
		{TagSamplesPerSecondPerReplica, it.Step, samples / dp},
		{TagTokensPerSecond, it.Step, tokens},
		{TagTokensPerSecondPerReplica, it.Step, tokens / dp},
		{TagTFLOPs, it.Step, it.TFLOPs},
	}
}

// Validation is one evaluation's result: the inputs of Megatron's
// evaluate_and_print_results.
type Validation struct {
	Step     int64   // the iteration after which it ran
	Samples  int64   // consumed_train_samples then
	Tokens   int64   // consumed_train_tokens then
	GigaFLOs float64 // gigaflos_no_embeds then; 0 leaves out the VsGigaFLOs points
	LMLoss   float64 // mean validation LM loss
}

// Points returns the scalars Megatron writes for the evaluation: the loss
// and, with Flags.ValidationPPL, the perplexity exp(min(20, loss)), each
// against step, samples, tokens and gigaflos.
func (v Validation) Points(f Flags) []Point {
	p := v.appendVs(nil, TagValidationLoss, v.LMLoss)
	if f.ValidationPPL {
		p = v.appendVs(p, TagValidationPPL, math.Exp(min(20, v.LMLoss)))
	}
	return p
}

func (v Validation) appendVs(p []Point, tag string, x float64) []Point {
	p = append(p, Point{tag, v.Step, x}, Point{tag + VsSamples, v.Samples, x}, Point{tag + VsTokens, v.Tokens, x})
	if v.GigaFLOs > 0 {
		p = append(p, Point{tag + VsGigaFLOs, int64(v.GigaFLOs), x})
	}
	return p
}
