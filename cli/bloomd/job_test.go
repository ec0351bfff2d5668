package bloomd

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"bloom/cli"
	"bloom/internal/testutil"
)

// run runs bloomctl with args and returns what it printed (standard output
// and error together).
func run(t *testing.T, args ...string) (string, error) {
	t.Helper()
	app := cli.CtlApp()
	var out bytes.Buffer
	app.Writer, app.ErrWriter = &out, &out
	err := app.Run(append([]string{"bloomctl"}, args...))
	return out.String(), err
}

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
