package main

import (
	"context"
	"math/rand"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestChaosRealBinaries: four real bloomd processes, one CPU device each,
// run a DP=4 job that needs all of them, first uninterrupted, then again
// with a bloomd that is not the leader SIGKILLed mid-run together with
// its worker (a machine crash) and started again under its name, data dir
// and ports. The job succeeds with the reference's final shards, bit for
// bit, after two attempts, the first ended by a cause that names the node;
// every committed checkpoint is whole.
func TestChaosRealBinaries(t *testing.T) {
	if testing.Short() {
		t.Skip("builds bloomd and bloomctl, starts four of them and trains twice")
	}
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	c := startTestCluster(ctx, t, 4)
	dir := c.Dir

	spec := jobSpec{Name: "chaos-ref", Steps: 60, DP: 4, SaveInterval: 10, Save: filepath.Join(dir, "ref"), Seed: 42}
	start := time.Now()
	ref, err := runToEnd(ctx, c, spec, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("reference: DP=4 on 4 nodes, 60 steps, submitted → succeeded in %v", time.Since(start).Round(time.Millisecond))

	spec.Name, spec.Save, spec.MaxRestarts = "chaos", filepath.Join(dir, "chaos"), 2
	j, err := c.Submit(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	// Kill a few steps past a committed checkpoint, so some steps are lost.
	j, err = c.WaitJob(ctx, j.ID, time.Minute, "steps past a checkpoint", func(j *jobInfo) bool {
		n := len(j.Checkpoints)
		return j.running() != nil && n > 0 && j.Progress.Step >= j.Checkpoints[n-1].Step+3
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(j.Checkpoints) >= len(ref.Checkpoints)-1 {
		t.Skip("the run was nearly over before it could be killed")
	}
	a, _ := actionOf("kill-daemon")
	ch := &chaos{c: c, rng: rand.New(rand.NewSource(1)), DetectWithin: 30 * time.Second, ResumeWithin: time.Minute}
	f := ch.Inject(ctx, j.ID, a)
	if f.Err != nil {
		t.Fatal(f.Err)
	}
	t.Logf("%s SIGKILLed at step %d: attempt %d ended %v later (%q); training again %v after the kill; %d steps lost",
		f.Target, f.Step, f.Attempt, f.Detect.Round(time.Millisecond), f.Cause, f.Resume.Round(time.Millisecond), f.StepsLost)

	j, err = c.WaitJob(ctx, j.ID, time.Minute, "success after the crash", func(j *jobInfo) bool { return j.State == jobSucceeded })
	if err != nil {
		t.Fatal(err)
	}
	checkAttempts(t, j, f.Target)
	if j.Progress == nil || ref.Progress == nil || j.Progress.Loss != ref.Progress.Loss {
		t.Errorf("final progress %+v, uninterrupted %+v", j.Progress, ref.Progress)
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
	for _, rep := range []ckptReport{checkCheckpoints(refCks, filepath.Join(dir, "ref"), ref.Attempts),
		checkCheckpoints(cks, spec.Save, j.Attempts)} {
		for _, p := range rep.Problems {
			t.Error(p)
		}
	}
}

// checkAttempts: two attempts, the first ended by a cause naming the
// crashed node, the second resumed from a checkpoint step, steps lost
// counted from it.
func checkAttempts(t *testing.T, j *jobInfo, node string) {
	t.Helper()
	if len(j.Attempts) != 2 {
		t.Fatalf("%d attempts, want 2%s", len(j.Attempts), attemptsNote(j))
	}
	a0, a1 := j.Attempts[0], j.Attempts[1]
	if !strings.Contains(a0.Cause, node) {
		t.Errorf("attempt 1 ended with cause %q, which does not name %s", a0.Cause, node)
	}
	if a1.FromStep == 0 || a1.FromStep%10 != 0 || a0.LastStep < a1.FromStep || a0.StepsLost != a0.LastStep-a1.FromStep {
		t.Errorf("attempt 1 last step %d, %d steps lost; attempt 2 from step %d", a0.LastStep, a0.StepsLost, a1.FromStep)
	}
	for _, a := range j.Attempts {
		t.Logf("attempt %d: from step %d (%s), last step %d, %d steps lost, ended %q", a.N, a.FromStep, a.FromDir,
			a.LastStep, a.StepsLost, a.Cause)
	}
}

// startTestCluster builds the binaries and starts n bloomd on 127.0.0.1..n
// with one CPU device each; the cluster closes with the test, which logs
// the tail of every node's log when it failed.
func startTestCluster(ctx context.Context, t *testing.T, n int) *Cluster {
	t.Helper()
	start := time.Now()
	bin, err := binaries(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("binaries ready in %v", time.Since(start).Round(time.Millisecond))
	c := &Cluster{Bin: bin, Dir: t.TempDir(), Devices: "cpu:1", Logf: t.Logf}
	t.Cleanup(c.Close)
	t.Cleanup(func() { // runs before c.Close: the logs of a failed run
		if t.Failed() {
			for _, n := range c.Nodes() {
				t.Logf("%s log:\n%s", n.Name, logTail(n.LogPath, 40))
			}
		}
	})
	if err := c.Start(ctx, Loopback(n)); err != nil {
		t.Fatal(err)
	}
	return c
}
