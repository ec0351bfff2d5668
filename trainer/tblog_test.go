package trainer

import (
	"path/filepath"
	"testing"
	"time"

	"bloom/trainer/bloom"
	"bloom/trainer/tensorboard"
)

// openTestLog opens a TensorBoardLog in a temporary directory whose clock
// reads *clock.
func openTestLog(t *testing.T, cfg RankConfig, flags tensorboard.Flags, clock *time.Time) (*TensorBoardLog, string) {
	t.Helper()
	dir := t.TempDir()
	tb, err := OpenTensorBoard(dir, cfg, bloom.Presets["bloom-tiny"], flags)
	if err != nil {
		t.Fatal(err)
	}
	tb.now = func() time.Time { return *clock }
	return tb, dir
}

// readTestLog closes tb and returns its scalars by tag.
func readTestLog(t *testing.T, tb *TensorBoardLog, dir string) map[string][]tensorboard.Scalar {
	t.Helper()
	if err := tb.Close(); err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "events.out.tfevents.*"))
	if len(files) != 1 {
		t.Fatalf("event files %v", files)
	}
	scalars, err := tensorboard.ReadScalars(files[0])
	if err != nil {
		t.Fatal(err)
	}
	got := map[string][]tensorboard.Scalar{}
	for _, s := range scalars {
		got[s.Tag] = append(got[s.Tag], s)
	}
	return got
}

// TestTensorBoardIterationTime: the iteration time is Megatron's
// interval-time, the wall-clock time between two reported steps (a
// checkpoint saved after a step lands in the next one's), with a
// validation's time moved to the step after the one it follows, where
// Megatron, which validates after training_log, counts it. The first step
// takes its own Seconds; the throughputs follow the same time.
func TestTensorBoardIterationTime(t *testing.T) {
	cfg := DefaultRankConfig()
	cfg.SeqLength, cfg.Layout = 16, Layout{TP: 1, PP: 1, DP: 2}
	clock := time.Unix(1_700_000_000, 0)
	tb, dir := openTestLog(t, cfg, tensorboard.BLOOMFlags(), &clock)
	at := func(s float64) { clock = clock.Add(time.Duration(s * float64(time.Second))) }
	steps := []struct {
		seconds, wall float64 // the step's own time; the wall clock since the last report
		val           bool    // validated after the step, before its report
		want          float64
	}{
		{2, 9, false, 2},     // the first: its Seconds (what came before training is not counted)
		{2, 2.5, false, 2.5}, // the report's own time counts
		{2, 7, false, 7},     // a checkpoint saved after step 2: in step 3's time
		{2, 5, true, 2},      // validated after step 4 (3 s): not in step 4's time...
		{2, 2, false, 5},     // ...but in step 5's
		{2, 1, false, 2},     // a clock behind the step's Seconds: never less than Seconds
	}
	for i, s := range steps {
		at(s.wall)
		st := StepStats{Step: i + 1, Loss: 5, Batch: 4, Consumed: int64(4 * (i + 1)), Seconds: s.seconds, NextLR: 1e-4, GradNorm: 1}
		if s.val {
			st.ValLoss = 4.5
		}
		if err := tb.Step(st); err != nil {
			t.Fatal(err)
		}
	}
	got := readTestLog(t, tb, dir)
	its, sps, tflops := got[tensorboard.TagIterationTime], got[tensorboard.TagSamplesPerSecondPerReplica], got[tensorboard.TagTFLOPs]
	if len(its) != len(steps) || len(sps) != len(steps) || len(tflops) != len(steps) {
		t.Fatalf("iteration-time %v, samples per second per replica %v, TFLOPs %v", its, sps, tflops)
	}
	for i, s := range steps {
		wantTFLOPs := StepThroughput(bloom.Presets["bloom-tiny"], 4, 16, 2, s.want, false, 0).TFLOPsPerDevice
		if its[i].Step != int64(i+1) || its[i].Value != float32(s.want) || sps[i].Value != float32(4/s.want/2) ||
			tflops[i].Value != float32(wantTFLOPs) {
			t.Errorf("step %d: iteration time %v, samples/s per replica %v, TFLOPs %v; want %v s", i+1, its[i], sps[i].Value, tflops[i].Value, s.want)
		}
	}
}

// TestTensorBoardSeqLength: every step writes AscendSpeed's
// seqlen/actual_seq_length against the iteration, samples and tokens,
// after the grad norm.
func TestTensorBoardSeqLength(t *testing.T) {
	cfg := DefaultRankConfig()
	cfg.SeqLength = 16
	clock := time.Unix(1_700_000_000, 0)
	tb, dir := openTestLog(t, cfg, tensorboard.Flags{}, &clock)
	if err := tb.Step(StepStats{Step: 1, Loss: 5, Batch: 4, Consumed: 4, Seconds: 1, NextLR: 1e-4, GradNorm: 1}); err != nil {
		t.Fatal(err)
	}
	got := readTestLog(t, tb, dir)
	for tag, x := range map[string]int64{tensorboard.TagSeqLength: 1, tensorboard.TagSeqLength + tensorboard.VsSamples: 4,
		tensorboard.TagSeqLength + tensorboard.VsTokens: 64} {
		if p := got[tag]; len(p) != 1 || p[0].Step != x || p[0].Value != 16 {
			t.Errorf("%s: %v, want 16 at x %d", tag, p, x)
		}
	}
}
