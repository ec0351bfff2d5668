package main

import (
	"context"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// TestRolloutRealBinaries: three real bloomd processes run a DP=3 job
// while `bloomctl rollout` restarts each of them in turn, the leader last:
// each drains (its rank and, by the stop vote, every rank checkpoint after
// the same step and stop), hands leadership over when it leads, leaves,
// executes itself again under the same pid, rejoins and catches up, and the
// job trains again from that checkpoint. No step is lost, no attempt counts
// as a failure (--max-restarts is 0), and the job ends with the reference
// run's final shards, bit for bit.
func TestRolloutRealBinaries(t *testing.T) {
	if testing.Short() {
		t.Skip("builds bloomd and bloomctl, starts three of them and restarts each")
	}
	ctx, cancel := context.WithTimeout(t.Context(), 4*time.Minute)
	defer cancel()
	c := startTestCluster(ctx, t, 3)
	bin, dir := c.Bin, c.Dir
	spec := jobSpec{Name: "roll-ref", Steps: 400, DP: 3, SaveInterval: 100, Save: filepath.Join(dir, "ref"), Seed: 42}
	ref, err := runToEnd(ctx, c, spec, 2*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	pids := map[string]int{}
	for _, n := range c.Nodes() {
		pids[n.Name] = n.PID()
	}

	spec.Name, spec.Save = "roll", filepath.Join(dir, "roll")
	j, err := c.Submit(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.WaitJob(ctx, j.ID, time.Minute, "training", func(j *jobInfo) bool { return j.running() != nil && j.Progress.Step >= 3 }); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	out, err := exec.CommandContext(ctx, filepath.Join(bin, "bloomctl"), "--addr", c.Nodes()[0].API,
		"--secret-file", filepath.Join(dir, "cluster.secret"), "-o", "json", "rollout", "--node-timeout", "40s").Output()
	if err != nil {
		t.Fatalf("bloomctl rollout: %v\n%s", err, exitStderr(err))
	}
	var steps []struct {
		Node   string  `json:"node"`
		Leader bool    `json:"leader"`
		Down   float64 `json:"down_s"`
		Jobs   []struct {
			ID        string `json:"id"`
			FromStep  int64  `json:"from_step"`
			StepsLost int64  `json:"steps_lost"`
		} `json:"jobs"`
	}
	if err := json.Unmarshal(out, &steps); err != nil {
		t.Fatalf("%v in %s", err, out)
	}
	t.Logf("rollout of 3 nodes took %v: %s", time.Since(start).Round(time.Millisecond), out)
	if len(steps) != 3 || !steps[2].Leader || steps[0].Leader || steps[1].Leader {
		t.Fatalf("rollout steps %+v: want three nodes, the leader last", steps)
	}
	for _, n := range c.Nodes() {
		if n.PID() != pids[n.Name] {
			t.Errorf("%s is pid %d, was %d: bloomd should execute itself in place", n.Name, n.PID(), pids[n.Name])
		}
	}
	j, err = c.WaitJob(ctx, j.ID, 2*time.Minute, "success", func(j *jobInfo) bool { return j.State == jobSucceeded })
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range j.Attempts[:len(j.Attempts)-1] {
		if a.StepsLost != 0 {
			t.Errorf("attempt %d lost %d steps: %q", a.N, a.StepsLost, a.Cause)
		}
		t.Logf("attempt %d: from step %d, ended after step %d: %s", a.N, a.FromStep, a.LastStep, a.Cause)
	}
	refCks, err1 := c.Checkpoints(ctx, ref.ID)
	cks, err2 := c.Checkpoints(ctx, j.ID)
	if err1 != nil || err2 != nil {
		t.Fatal(err1, err2)
	}
	if what, err := sameWeights(refCks, cks); err != nil {
		t.Error(err)
	} else {
		t.Logf("final shards equal the reference's: %s", what)
	}
}

func exitStderr(err error) string {
	if ee, ok := err.(*exec.ExitError); ok {
		return string(ee.Stderr)
	}
	return ""
}
