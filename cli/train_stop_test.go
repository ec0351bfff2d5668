package cli

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"bloom/ckpt"
)

// TestTrainLocalInterruptResume: bloomctl train --local --save, a real
// process, gets SIGTERM after its third step: it finishes the step it is
// in, saves the Hugging Face model and a native checkpoint of that step,
// and exits with status 143; it saved every --save-interval steps before.
// --load of the directory resumes at the next step, and the steps after it
// have the losses of a run never interrupted, bit for bit (weights, AdamW
// state and data position all restored). The saved model scores.
func TestTrainLocalInterruptResume(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "model")
	common := []string{"-o", "json", "train", "--local", "--seq-length", "16", "--micro-batch-size", "2", "--global-batch-size", "2", "--lr-decay-style", "constant"}
	cmd := exec.Command(exe, append(append([]string{}, common...), "--model-preset", "bloom-tiny", "--train-iters", "100000", "--save", dir, "--save-interval", "2")...)
	cmd.Env = append(os.Environ(), "BLOOMCTL_TEST_AS_CTL=1")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var losses []float64
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		var s struct {
			Step int
			Loss float64
		}
		if err := json.Unmarshal(sc.Bytes(), &s); err != nil || s.Step != len(losses)+1 {
			cmd.Process.Kill()
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		losses = append(losses, s.Loss)
		if s.Step == 3 {
			cmd.Process.Signal(syscall.SIGTERM)
		}
	}
	err = cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 143 || !strings.Contains(stderr.String(), "stopped after step") {
		t.Fatalf("after SIGTERM: %v\n%s", err, stderr.String())
	}
	k := len(losses) // the step it was in when the signal came, or the next
	if k < 3 || k > 5 {
		t.Fatalf("stopped after step %d", k)
	}
	man, err := ckpt.ReadManifest(filepath.Join(dir, ckpt.StepDirName(k)))
	if err != nil || man.Step != k {
		t.Fatalf("checkpoint of step %d: %+v %v", k, man, err)
	}
	if _, err := ckpt.ReadManifest(filepath.Join(dir, ckpt.StepDirName(2))); err != nil {
		t.Errorf("no checkpoint at --save-interval 2: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "config.json")); err != nil {
		t.Errorf("no Hugging Face model in %s: %v", dir, err)
	}
	if out, err := run(t, "score", "--model", dir, "--tokens", "5,17,42,7"); err != nil {
		t.Errorf("score the saved model: %v %s", err, out)
	}

	n := strconv.Itoa(k + 2)
	resumed := trainLosses(t, append(common, "--load", dir, "--train-iters", n, "--save", dir)...)
	ref := trainLosses(t, append(common, "--model-preset", "bloom-tiny", "--train-iters", n)...)
	if len(resumed) != 2 || resumed[0].Step != k+1 || len(ref) != k+2 {
		t.Fatalf("resumed %+v; reference %d steps", resumed, len(ref))
	}
	for i, s := range resumed {
		if r := ref[k+i]; s != r {
			t.Errorf("resumed step %+v, uninterrupted %+v", s, r)
		}
	}
	for i := range k {
		if losses[i] != ref[i].Loss {
			t.Errorf("step %d: interrupted run's loss %v, reference %v", i+1, losses[i], ref[i].Loss)
		}
	}
	if man, err := ckpt.ReadManifest(filepath.Join(dir, ckpt.StepDirName(k+2))); err != nil || man.Step != k+2 {
		t.Errorf("resumed run's last checkpoint: %v", err)
	}
}

type stepLoss struct {
	Step int
	Loss float64
}

// trainLosses runs bloomctl with args (-o json train ...) and returns each
// step's number and loss from its JSON lines.
func trainLosses(t *testing.T, args ...string) []stepLoss {
	t.Helper()
	out, err := run(t, args...)
	if err != nil {
		t.Fatalf("%v: %v\n%s", args, err, out)
	}
	var ls []stepLoss
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if !strings.HasPrefix(l, "{") {
			continue // a note on standard error: run gives both
		}
		var s stepLoss
		if err := json.Unmarshal([]byte(l), &s); err != nil {
			t.Fatalf("%v: %q", err, l)
		}
		ls = append(ls, s)
	}
	return ls
}
