package cli

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"bloom/api"
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
