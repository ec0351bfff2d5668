package cli

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	ucli "github.com/urfave/cli/v2"

	"bloom/daemon/jobspec"
	"bloom/trainer"
	"bloom/trainer/tensorboard"
)

// TestTrainFlagsAreTheJobTable: train --local's settings are fields of the
// jobspec table, so they have a cluster job's names and defaults.
func TestTrainFlagsAreTheJobTable(t *testing.T) {
	fields := map[string]bool{}
	for _, f := range jobspec.Fields() {
		fields[f.Name] = true
	}
	for name := range localFields {
		if !fields[name] {
			t.Errorf("train --local's %q is not a field of the jobspec table", name)
		}
	}
	// Unset, they are the table's defaults; given, they set the Spec.
	spec := func(args ...string) jobspec.Spec {
		var s jobspec.Spec
		app := &ucli.App{Flags: trainFlags(), Action: func(c *ucli.Context) (err error) { s, err = localSpec(c); return err }}
		if err := app.Run(append([]string{"train"}, args...)); err != nil {
			t.Fatalf("%v: %v", args, err)
		}
		return s
	}
	want := jobspec.Default()
	want.TrainIters = localSteps
	if got := spec(); !reflect.DeepEqual(got, want) {
		t.Errorf("train --local's defaults\n%+v\nthe table's\n%+v", got, want)
	}
	got := spec("--preset", "p", "--model", "m", "--steps", "7", "--instruction-data", "d", "--adam-beta2", "0.95", "--lora-target-modules", "dense,query_key_value")
	want.ModelPreset, want.Load, want.TrainIters, want.DataPath, want.InstructionDataset, want.AdamBeta2 = "p", "m", 7, "d", true, 0.95
	want.LoRATargetModules = []string{"dense", "query_key_value"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("flags given\n%+v\nwant\n%+v", got, want)
	}
}

// TestTrainLocalOldNames: --steps, --preset and --model are the same flags
// as --train-iters, --model-preset and --load.
func TestTrainLocalOldNames(t *testing.T) {
	losses := func(args ...string) []float64 {
		out, err := run(t, append([]string{"-o", "json", "train", "--local", "--seq-length", "16", "--micro-batch-size", "2", "--global-batch-size", "2"}, args...)...)
		if err != nil {
			t.Fatalf("%v: %v", args, err)
		}
		var ls []float64
		for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
			var s struct{ Loss float64 }
			if err := json.Unmarshal([]byte(l), &s); err != nil {
				t.Fatalf("%v: %q", err, l)
			}
			ls = append(ls, s.Loss)
		}
		return ls
	}
	a := losses("--preset", "bloom-tiny", "--steps", "2")
	b := losses("--model-preset", "bloom-tiny", "--train-iters", "2")
	if len(a) != 2 || len(b) != 2 || a[0] != b[0] || a[1] != b[1] {
		t.Errorf("old names %v, new names %v", a, b)
	}
}

// TestDefaultsAreMegatrons: the job table's defaults (every command's) and
// the trainer's DefaultRankConfig are the same Megatron argparse defaults.
func TestDefaultsAreMegatrons(t *testing.T) {
	s, r := jobspec.Default(), trainer.DefaultRankConfig()
	got := []any{s.AdamBeta1, s.AdamBeta2, s.AdamEps, s.WeightDecay, s.ClipGrad, s.InitMethodStd, s.Seed, s.LRDecayStyle, s.MinLR}
	want := []any{r.Adam.Beta1, r.Adam.Beta2, r.Adam.Eps, r.Adam.WeightDecay, r.ClipGrad, r.InitStd, r.Seed, r.LR.Style, r.LR.MinLR}
	for i := range got {
		if got[i] != want[i] {
			t.Errorf("setting %d: jobspec.Default %v, trainer.DefaultRankConfig %v", i, got[i], want[i])
		}
	}
}

// TestTrainLocalTensorBoard: train --local --tensorboard-dir writes one
// event file whose lm loss points are the steps' losses (float32), against
// the iteration, samples and tokens, as Megatron tags them, and whose
// learning rate is the one after each step, as Megatron logs it.
func TestTrainLocalTensorBoard(t *testing.T) {
	dir := t.TempDir()
	out, err := run(t, "-o", "json", "train", "--local", "--model-preset", "bloom-tiny", "--train-iters", "3", "--seq-length", "16",
		"--micro-batch-size", "2", "--global-batch-size", "2", "--tensorboard-dir", dir, "--log-timers-to-tensorboard")
	if err != nil {
		t.Fatal(err)
	}
	var losses, lrs, next []float64
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		var s struct {
			Loss, LR float64
			NextLR   float64 `json:"next_lr"`
		}
		if err := json.Unmarshal([]byte(l), &s); err != nil {
			t.Fatalf("%v: %q", err, l)
		}
		losses, lrs, next = append(losses, s.Loss), append(lrs, s.LR), append(next, s.NextLR)
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
	loss := got[tensorboard.TagLMLoss]
	if len(loss) != 3 || len(got[tensorboard.TagLMLoss+tensorboard.VsTokens]) != 3 || len(got[tensorboard.TagTFLOPs]) != 3 {
		t.Fatalf("scalars by tag: %v", got)
	}
	for i, s := range loss {
		if s.Step != int64(i+1) || float32(s.Value) != float32(losses[i]) {
			t.Errorf("lm loss point %d: step %d value %v; the step's loss %v", i, s.Step, s.Value, losses[i])
		}
	}
	// The learning rate as Megatron logs it: the one after the step,
	// which the next step uses.
	if len(got[tensorboard.TagLearningRate]) != 3 {
		t.Errorf("learning-rate points %v", got[tensorboard.TagLearningRate])
	}
	for i, s := range got[tensorboard.TagLearningRate] {
		if float32(s.Value) != float32(next[i]) || i+1 < len(lrs) && next[i] != lrs[i+1] || next[i] == lrs[i] {
			t.Errorf("learning-rate point %d: %v; the step used %v, the next %v", i, s.Value, lrs[i], next[i])
		}
	}
	if tok := got[tensorboard.TagLMLoss+tensorboard.VsTokens][2]; tok.Step != 3*2*16 {
		t.Errorf("lm loss vs tokens at x %d, want 96 tokens", tok.Step)
	}
	if len(got[tensorboard.TagLossScale]) != 0 {
		t.Error("a loss scale without --fp16")
	}
}

// TestTrainLocalCheckpointActivations: recomputing the blocks in backward
// trains to the same losses, bit for bit.
func TestTrainLocalCheckpointActivations(t *testing.T) {
	losses := func(args ...string) string {
		out, err := run(t, append([]string{"-o", "json", "train", "--local", "--model-preset", "bloom-tiny", "--train-iters", "4",
			"--seq-length", "16", "--micro-batch-size", "2", "--global-batch-size", "4"}, args...)...)
		if err != nil {
			t.Fatal(err)
		}
		var ls []string
		for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
			var s struct{ Loss float64 }
			if err := json.Unmarshal([]byte(l), &s); err != nil {
				t.Fatalf("%v: %q", err, l)
			}
			ls = append(ls, strconv.FormatFloat(s.Loss, 'g', -1, 64))
		}
		return strings.Join(ls, " ")
	}
	if a, b := losses(), losses("--checkpoint-activations"); a != b {
		t.Errorf("kept %s, recomputed %s", a, b)
	}
}

// TestTrainLocalRampup: --rampup-batch-size as the seed writes it (three
// values after the flag): the batch grows 2, 4, 6, 8 over the first 16
// samples, and --train-samples counts the steps as Megatron does.
func TestTrainLocalRampup(t *testing.T) {
	out, err := run(t, "-o", "json", "train", "--local", "--model-preset", "bloom-tiny", "--train-samples", "40",
		"--seq-length", "16", "--micro-batch-size", "2", "--global-batch-size", "8", "--rampup-batch-size", "2", "2", "16")
	if err != nil {
		t.Fatal(err)
	}
	var batches []int
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		var s struct {
			Batch    int   `json:"batch_size"`
			Consumed int64 `json:"consumed_samples"`
		}
		if err := json.Unmarshal([]byte(l), &s); err != nil {
			t.Fatalf("%v: %q", err, l)
		}
		batches = append(batches, s.Batch)
	}
	// Increments every 16/3 samples: after 0, 2, 4 → 2; 6 → 4; 10 → 2+2·1=4;
	// 14 → 6; 20 > 16 → 8; then whole batches of 8 to 40.
	want := trainer.Rampup{Start: 2, Increment: 2, Samples: 16}
	var consumed int64
	var wantBatches []int
	for range want.Iterations(8, 40) {
		b := want.Batch(8, consumed)
		wantBatches, consumed = append(wantBatches, b), consumed+int64(b)
	}
	if fmt.Sprint(batches) != fmt.Sprint(wantBatches) || batches[0] != 2 || batches[len(batches)-1] != 8 {
		t.Errorf("batches %v, want %v", batches, wantBatches)
	}
}

// TestTrainLocalChecksSaveFirst: a --save-dtype that is not one, or a
// --save that cannot be written, fails before the first step (no step
// line printed), not after the training it would have thrown away.
func TestTrainLocalChecksSaveFirst(t *testing.T) {
	file := filepath.Join(t.TempDir(), "a-file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ args []string }{
		{[]string{"--save", filepath.Join(t.TempDir(), "m"), "--save-dtype", "fp8"}},
		{[]string{"--save", filepath.Join(file, "model")}},
	} {
		args := append([]string{"-o", "json", "train", "--local", "--preset", "bloom-tiny", "--steps", "50", "--seq-length", "16",
			"--micro-batch-size", "2", "--global-batch-size", "4"}, c.args...)
		out, err := run(t, args...)
		if err == nil || strings.Contains(out, `"step"`) {
			t.Errorf("%v: trained (%q) before failing with %v", c.args, out, err)
		}
		t.Logf("%v: %v", c.args, err)
	}
}
