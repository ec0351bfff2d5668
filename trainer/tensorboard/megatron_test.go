package tensorboard

import (
	"math"
	"slices"
	"testing"
)

// The seed README's NPU row, reproduced in observability.md §3.2: BLOOM-7B,
// global batch 192, sequence 2048, 19.63 s per step, 8 devices in data
// parallel, 109.88 TFLOPs.
var readmeStep = Iteration{
	Step: 3, Samples: 3 * 192, Tokens: 3 * 192 * 2048, GigaFLOs: 12.9,
	LR: 6e-5, BatchSize: 192, LMLoss: 9.5, LossScale: 4096, GradNorm: 1.25,
	IterationTime: 19.63, SeqLength: 2048, DataParallel: 8, TFLOPs: 109.88,
}

// TestIterationPoints checks the tags, their order and their x against
// AscendSpeed's training_log (ascendspeed/training.py @64b1937a L882–1055),
// then BigScience's throughput tags (megatron/training.py @8387ae1
// L776–785) and its gigaflos x.
func TestIterationPoints(t *testing.T) {
	it := readmeStep
	const S, N, T = 3, 3 * 192, 3 * 192 * 2048
	want := []Point{
		{"steps-vs-samples/y=steps,x=samples", N, S},
		{"steps-vs-samples/y=samples,x=steps", S, N},
		{"steps-vs-tokens/y=steps,x=tokens", T, S},
		{"steps-vs-tokens/y=tokens,x=steps", S, T},
		{"learning-rate/learning-rate", S, 6e-5},
		{"learning-rate/learning-rate vs samples", N, 6e-5},
		{"learning-rate/learning-rate vs tokens", T, 6e-5},
		{"batch-size/batch-size", S, 192},
		{"batch-size/batch-size vs samples", N, 192},
		{"lm-loss-training/lm loss", S, 9.5},
		{"lm-loss-training/lm loss vs samples", N, 9.5},
		{"lm-loss-training/lm loss vs tokens", T, 9.5},
		{"lm-loss-training/lm loss vs gigaflos (without embeddings)", 12, 9.5},
		{"loss-scale/loss-scale", S, 4096},
		{"loss-scale/loss-scale vs samples", N, 4096},
		{"loss-scale/loss-scale vs tokens", T, 4096},
		{"grad-norm/grad-norm", S, 1.25},
		{"grad-norm/grad-norm vs samples", N, 1.25},
		{"grad-norm/grad-norm vs tokens", T, 1.25},
		{"seqlen/actual_seq_length", S, 2048},
		{"seqlen/actual_seq_length vs samples", N, 2048},
		{"seqlen/actual_seq_length vs tokens", T, 2048},
		{"iteration-time/iteration-time", S, 19.63},
		{"iteration-time/iteration-time vs samples", N, 19.63},
		{"iteration-time/iteration-time vs tokens", T, 19.63},
		{"iteration-time/samples per second", S, 192 / 19.63},
		{"iteration-time/samples per second per replica", S, 192 / 19.63 / 8},
		{"iteration-time/tokens per second", S, 192 / 19.63 * 2048},
		{"iteration-time/tokens per second per replica", S, 192 / 19.63 * 2048 / 8},
		{"iteration-time/TFLOPs per gpu (estimated)", S, 109.88},
	}
	got := it.Points(BLOOMFlags())
	if !slices.Equal(got, want) {
		t.Fatalf("got\n%v\nwant\n%v", got, want)
	}
	// The README's figures: 9.779 samples/s, 2503 tokens/s per device. Its
	// 19.63 s is rounded to ±0.005 s, hence 192/19.63² × 0.005 ≈ 2.5e-3.
	if sps := got[25].Value; math.Abs(sps-9.779) > 2.5e-3 {
		t.Errorf("samples per second %v, README 9.779", sps)
	}
	if tps := got[28].Value; math.Floor(tps) != 2503 {
		t.Errorf("tokens per second per replica %v, README 2503", tps)
	}
}

// TestIterationFlagsOff: with Megatron's opt-in flags off, no loss scaler
// flag and no grad norm, only the step counters, the loss and AscendSpeed's
// actual_seq_length remain (it writes that one whatever its flags).
func TestIterationFlagsOff(t *testing.T) {
	it := readmeStep
	it.NoGradNorm, it.GigaFLOs = true, 0
	var tags []string
	for _, p := range it.Points(Flags{}) {
		tags = append(tags, p.Tag)
	}
	want := []string{TagStepsVsSamples, TagSamplesVsSteps, TagStepsVsTokens, TagTokensVsSteps,
		TagLMLoss, TagLMLoss + VsSamples, TagLMLoss + VsTokens,
		TagSeqLength, TagSeqLength + VsSamples, TagSeqLength + VsTokens}
	if !slices.Equal(tags, want) {
		t.Errorf("tags %q, want %q", tags, want)
	}
	it.IterationTime = 0 // Timers on, but no time measured yet: no division by zero
	for _, p := range it.Points(Flags{Timers: true}) {
		if math.IsInf(p.Value, 0) || math.IsNaN(p.Value) {
			t.Errorf("%s = %v", p.Tag, p.Value)
		}
	}
}

// TestValidationPoints checks evaluate_and_print_results (L1107–1127),
// perplexity capped at exp(20).
func TestValidationPoints(t *testing.T) {
	v := Validation{Step: 100, Samples: 1000, Tokens: 2048000, GigaFLOs: 7.9, LMLoss: 25}
	got := v.Points(BLOOMFlags())
	ppl := math.Exp(20)
	want := []Point{
		{"lm-loss-validation/lm loss validation", 100, 25},
		{"lm-loss-validation/lm loss validation vs samples", 1000, 25},
		{"lm-loss-validation/lm loss validation vs tokens", 2048000, 25},
		{"lm-loss-validation/lm loss validation vs gigaflos (without embeddings)", 7, 25},
		{"lm-loss-validation/lm loss validation ppl", 100, ppl},
		{"lm-loss-validation/lm loss validation ppl vs samples", 1000, ppl},
		{"lm-loss-validation/lm loss validation ppl vs tokens", 2048000, ppl},
		{"lm-loss-validation/lm loss validation ppl vs gigaflos (without embeddings)", 7, ppl},
	}
	if !slices.Equal(got, want) {
		t.Fatalf("got\n%v\nwant\n%v", got, want)
	}
	v.LMLoss = 2
	if got := v.Points(Flags{}); len(got) != 4 || got[0].Value != 2 {
		t.Errorf("without ValidationPPL: %v", got)
	}
}
