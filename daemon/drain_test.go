package daemon

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"bloom/api"
	"bloom/ckpt"
)

// TestDrainCheckpointsAndResumes is SIGTERM to a bloomd that runs ranks of
// a job (the first half of a rolling restart): Drain makes every rank stop
// after one agreed step with that step checkpointed and committed, the
// attempt ends as planned (not a failure: it does not count against
// --max-restarts, which is 0 here), the node stops and starts again, and
// the job resumes from that very step — no step lost — and ends with the
// weights and losses of the uninterrupted run, bit for bit.
func TestDrainCheckpointsAndResumes(t *testing.T) {
	checkGoroutines(t)
	c := startChaosCluster(t, 3)
	l := c.waitLeader(10 * time.Second)
	cl := client(t, l, testSecret)
	s := tinySpec(60)
	s.DataParallel, s.MicroBatch, s.GlobalBatch, s.SaveInterval, s.LogInterval = 3, 1, 3, 25, 1
	s.Save = filepath.Join(t.TempDir(), "ref") // a shared file system: shards stay reachable
	ref := runRef(t, cl, "drain-ref", s)

	s.Save, s.MaxRestarts = filepath.Join(t.TempDir(), "drain"), 0
	j, err := submitSpec(t, cl, "drain", s)
	if err != nil {
		t.Fatal(err)
	}
	j = waitJob(t, cl, j.ID, 60*time.Second, "a few steps", func(j *api.JobInfo) bool {
		return j.Progress != nil && j.Progress.Step >= 5
	})
	victim := c.rankNodeNot(j, l)
	name := c.nodes[victim].Name()
	start := time.Now()
	dctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := c.nodes[victim].Drain(dctx); err != nil {
		t.Fatalf("drain %s: %v", name, err)
	}
	drained := time.Since(start)
	j, err = cl.Job(ctx(t), j.ID)
	if err != nil {
		t.Fatal(err)
	}
	a0 := j.Attempts[0]
	if !a0.Planned || a0.EndedAt == 0 || !strings.Contains(a0.Cause, name) || a0.LastStep < 5 || a0.StepsLost != 0 {
		t.Fatalf("attempt 1 after the drain: %+v", a0)
	}
	if k := j.Checkpoints[len(j.Checkpoints)-1]; k.Step != a0.LastStep {
		t.Fatalf("last committed checkpoint is step %d, the ranks stopped after %d", k.Step, a0.LastStep)
	}
	if err := c.nodes[victim].Stop(); err != nil {
		t.Fatal(err)
	}
	c.nodes[victim] = nil
	c.restart(victim)
	j = waitJob(t, cl, j.ID, 60*time.Second, "success after the restart", state(api.JobSucceeded))
	a1 := j.Attempts[1]
	t.Logf("%s drained in %v: stopped after step %d (%s); attempt 2 resumed from step %d", name,
		drained.Round(time.Millisecond), a0.LastStep, a0.Cause, a1.FromStep)
	if a1.FromStep != a0.LastStep || len(j.Attempts) != 2 {
		t.Errorf("attempts %+v", j.Attempts)
	}
	refLoss := stepLosses(t, cl, ref.ID, 1)
	for _, a := range j.Attempts {
		for step, loss := range stepLosses(t, cl, j.ID, a.N) {
			if refLoss[step] != loss {
				t.Errorf("attempt %d step %d: loss %s, uninterrupted %s", a.N, step, loss, refLoss[step])
			}
		}
	}
	sameFinalShards(t, ref, j)
}

// sameFinalShards checks two jobs' last checkpoints hold the same bytes.
func sameFinalShards(t *testing.T, ref, j *api.JobInfo) {
	t.Helper()
	want, err1 := ckpt.ReadManifest(ref.Checkpoints[len(ref.Checkpoints)-1].Dir)
	got, err2 := ckpt.ReadManifest(j.Checkpoints[len(j.Checkpoints)-1].Dir)
	if err := errors.Join(err1, err2); err != nil {
		t.Fatal(err)
	}
	if len(got.Shards) != len(want.Shards) || got.Step != want.Step {
		t.Fatalf("%d shards at step %d, uninterrupted %d at %d", len(got.Shards), got.Step, len(want.Shards), want.Step)
	}
	for i := range want.Shards {
		if got.Shards[i].SHA256 != want.Shards[i].SHA256 {
			t.Errorf("shard %s: %.12s, uninterrupted %.12s", want.Shards[i].File, got.Shards[i].SHA256, want.Shards[i].SHA256)
		}
	}
}

// TestJobFaultNotRetried: a job whose own input is wrong (its --data-path
// does not exist on the node) fails once and is not restarted, whatever
// --max-restarts says, and the cause says so.
func TestJobFaultNotRetried(t *testing.T) {
	c := startJobCluster(t, 1)
	cl := client(t, c.waitLeader(10*time.Second), testSecret)
	s := tinySpec(10)
	s.DataPath, s.MaxRestarts = filepath.Join(t.TempDir(), "missing", "corpus_text_document"), 3
	j, err := submitSpec(t, cl, "bad-data", s)
	if err != nil {
		t.Fatal(err)
	}
	j = waitJob(t, cl, j.ID, 30*time.Second, "failed", state(api.JobFailed))
	if len(j.Attempts) != 1 || !strings.Contains(j.Attempts[0].Cause, "not retried") || !strings.Contains(j.Attempts[0].Cause, "data-path") {
		t.Fatalf("attempts %+v", j.Attempts)
	}
}
