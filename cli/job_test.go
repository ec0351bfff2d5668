package cli

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"bloom/api"
	"bloom/daemon/identity"
)

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

// TestWatchJSON: job --watch with --output json prints its progress lines
// on stderr and the ended job, as JSON, alone on stdout (the lines were
// on stdout, breaking a JSON reader), against a fake API with the
// cluster's TLS identity.
func TestWatchJSON(t *testing.T) {
	secret, err := identity.GenerateSecret()
	if err != nil {
		t.Fatal(err)
	}
	id, err := identity.New(secret, "n1")
	if err != nil {
		t.Fatal(err)
	}
	var calls atomic.Int32
	ts := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		j := api.JobInfo{ID: "j1", Name: "demo", State: api.JobRunning, Progress: &api.JobProgress{Step: 1, Steps: 2, Loss: 3}}
		if calls.Add(1) > 1 {
			j.State, j.Progress.Step = api.JobSucceeded, 2
		}
		json.NewEncoder(w).Encode(j)
	}))
	ts.TLS = id.ServerTLS()
	ts.StartTLS()
	defer ts.Close()
	app := CtlApp()
	var out, errOut bytes.Buffer
	app.Writer, app.ErrWriter = &out, &errOut
	err = app.Run([]string{"bloomctl", "job", "j1", "--watch", "-o", "json", "--addr", ts.Listener.Addr().String(), "--token", secret.Token()})
	var j api.JobInfo
	if err != nil || json.Unmarshal(out.Bytes(), &j) != nil || j.State != api.JobSucceeded || strings.Count(out.String(), "\n") != 1 ||
		!strings.Contains(errOut.String(), "step 1/2") {
		t.Errorf("job --watch -o json: %v\nstdout %q\nstderr %q", err, out.String(), errOut.String())
	}
}

// TestWatchUnreachable: job --watch where no bloomd answers fails with the
// reason, as job ID does, instead of retrying forever.
func TestWatchUnreachable(t *testing.T) {
	secret, err := identity.GenerateSecret()
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := run(t, "job", "j1", "--watch", "--addr", "127.0.0.1:1", "--token", secret.Token())
		done <- err
	}()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "cannot be reached") {
			t.Errorf("job --watch at 127.0.0.1:1: %v, want the address cannot be reached", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("job --watch at 127.0.0.1:1 still retrying after 30s")
	}
}
