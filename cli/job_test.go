package cli

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"bloom/api"
	"bloom/internal/testutil"
)

// TestJobCommandsRefuse runs the job commands against a one-node cluster
// with jobs the cluster must refuse (no worker is ever started here: this
// test binary cannot stand in for bloomd worker).
func TestJobCommandsRefuse(t *testing.T) {
	secret, _ := writeTestSecret(t)
	apiAddr := freeAddr(t, "127.0.0.1")
	startJoin(t, "--name", "solo", "--data-dir", filepath.Join(t.TempDir(), "d"), "--bind", "127.0.0.1:0",
		"--api", apiAddr, "--secret-file", secret, "--bootstrap-expect", "1", "--devices", "cpu:2", "--log-level", "error")
	ctl := func(args ...string) (string, error) {
		return run(t, append([]string{"--addr", apiAddr, "--secret-file", secret}, args...)...)
	}
	var out string
	var err error
	if _, ok := testutil.Poll(30*time.Second, func() bool {
		out, err = ctl("-o", "json", "jobs")
		return err == nil && strings.TrimSpace(out) == `{"jobs":[]}`
	}); !ok {
		t.Fatalf("no job list: %q %v", out, err)
	}
	tiny := []string{"submit", "pretrain", "--model-preset", "bloom-tiny", "--train-iters", "5"}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{append(tiny, "--tensor-model-parallel-size", "3"), "4 attention heads do not divide by --tensor-model-parallel-size 3"},
		{append(tiny, "--data-parallel-size", "3", "--global-batch-size", "12"), "the cluster has 2 devices: lower --data-parallel-size to 2"},
		{append(tiny, "--pipeline-model-parallel-size", "2", "--partition-layers", "1,2"), "sums to 3 but the model has 2 layers"},
		{append(tiny, "--global-batch-size", "6"), "not divisible by --micro-batch-size 4"},
		{append(tiny, "--lr-decay-style", "step"), "use cosine, linear or constant"},
		{[]string{"submit", "pretrain", "--train-iters", "5"}, "no model"},
		{[]string{"job", "nope"}, "404"},
		{[]string{"logs", "nope"}, "404"},
		{[]string{"checkpoints", "nope"}, "404"},
		{[]string{"cancel", "nope"}, "404"},
		{[]string{"job"}, "give the job's ID"},
		{[]string{"logs", "nope", "--rank", "1", "-f"}, "404"}, // flags after the ID work too
		{[]string{"job", "nope", "--bogus"}, "flag provided but not defined: -bogus"},
		{[]string{"job", "nope", "extra"}, "takes one job ID"},
	} {
		if _, err := ctl(tc.args...); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: %v, want an error saying %q", tc.args, err, tc.want)
		}
	}
	// A job file with a mistake is refused before it is sent, naming the line.
	f := filepath.Join(t.TempDir(), "job.yaml")
	os.WriteFile(f, []byte("model-preset: bloom-tiny\ntrain-iters: 5\nmicro-batch: 2\n"), 0o644)
	if _, err := ctl("submit", f); err == nil || !strings.Contains(err.Error(), "line 3") || !strings.Contains(err.Error(), "micro-batch-size") {
		t.Errorf("bad job file: %v", err)
	}
	out, err = ctl("jobs")
	if err != nil || !strings.HasPrefix(out, "ID") || strings.Count(out, "\n") != 1 {
		t.Errorf("jobs table after refusals: %q %v", out, err)
	}
}

func TestWriteJob(t *testing.T) {
	j := &api.JobInfo{ID: "j1", Name: "demo", State: api.JobRunning, SubmittedAt: 1,
		Plan:     &api.Plan{TP: 1, PP: 2, DP: 1, Ranks: []api.PlanRank{{Rank: 0, Node: "n1", Device: "cpu:0"}, {Rank: 1, Node: "n2", Device: "cpu:1"}}},
		Progress: &api.JobProgress{Step: 40, Steps: 300, Loss: 2.5, TokensPerSec: 1234, Checkpointing: 40},
		Attempts: []api.Attempt{{N: 1, StartedAt: 1, EndedAt: 2, Cause: "rank 1 on n2: worker signal: killed", StepsLost: 7},
			{N: 2, StartedAt: 3, EndedAt: 4, FromStep: 20, Cause: "node n2 (rank 1) is dead", LastStep: 29, StepsLost: 9},
			{N: 3, StartedAt: 5, FromStep: 20, FromDir: "/ck/iter_0000020"}},
		Checkpoints: []api.Checkpoint{{Step: 20, Dir: "/ck/iter_0000020", Manifest: strings.Repeat("ab", 32)}}}
	var b bytes.Buffer
	if err := writeJob(&b, j); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"TP 1 × PP 2 × DP 1 = 2 ranks", "rank 1 on n2 cpu:1 (tp 0, dp 0, pp 1)",
		"step 40/300 | loss 2.5000", "1234 tokens/s", "checkpointing step 40", "signal: killed (7 steps lost)",
		"from the checkpoint of step 20", "is dead (last step 29, 9 steps lost)",
		"attempt 3:", "from the checkpoint of step 20 in /ck/iter_0000020; running", "step 20 in /ck/iter_0000020 (manifest abababababab)"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("job view lacks %q:\n%s", want, b.String())
		}
	}
	raw, _ := json.Marshal(j)
	var back api.JobInfo
	if err := json.Unmarshal(raw, &back); err != nil || back.Progress.Step != 40 {
		t.Errorf("round trip %v", err)
	}
}
