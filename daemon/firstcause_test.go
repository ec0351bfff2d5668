package daemon

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"bloom/api"
	"bloom/ckpt"
)

// TestFirstCauseOnCluster: stage 1 of a PP2 job cannot write its shard
// (its file name is taken by a directory: as a full disk, an error of that
// rank's own), and stage 0 then loses its pipeline peer. The attempt's
// cause names stage 1 and its error, not rank 0's "peer lost", although
// rank 0 comes first in the plan.
func TestFirstCauseOnCluster(t *testing.T) {
	checkGoroutines(t)
	c := startChaosCluster(t, 2)
	cl := client(t, c.waitLeader(10*time.Second), testSecret)
	s := tinySpec(40)
	s.PipelineParallel, s.SaveInterval, s.MaxRestarts = 2, 10, 0
	s.Save = t.TempDir()
	if err := os.MkdirAll(filepath.Join(s.Save, ckpt.StepDirName(10), ckpt.ShardFileName(0, 1)), 0o755); err != nil {
		t.Fatal(err)
	}
	j, err := submitSpec(t, cl, "blocked-save", s)
	if err != nil {
		t.Fatal(err)
	}
	j = waitJob(t, cl, j.ID, 60*time.Second, "failure", state(api.JobFailed))
	cause := j.Attempts[0].Cause
	t.Logf("cause: %s", cause)
	if !strings.HasPrefix(cause, "rank 1 on ") || !strings.Contains(cause, ckpt.ShardFileName(0, 1)) || strings.Contains(cause, "peer lost") {
		t.Fatalf("cause %q, want rank 1's own error writing %s", cause, ckpt.ShardFileName(0, 1))
	}
}

// TestUnusableCheckpointFallback: every copy of the newest checkpoints'
// shard is corrupt (on the writer and on the replica) when the worker
// dies; the next attempt finds no copy that verifies, the checkpoint is
// skipped with the reason in the attempt's cause, and the job resumes from
// the newest intact one (the oldest here) and succeeds with the loss of
// the uninterrupted run.
func TestUnusableCheckpointFallback(t *testing.T) {
	checkGoroutines(t)
	c := startChaosCluster(t, 2)
	cl := client(t, c.waitLeader(10*time.Second), testSecret)
	s := tinySpec(300)
	s.SaveInterval, s.LogInterval, s.MaxRestarts = 10, 10, 3
	ref := runRef(t, cl, "intact", s)

	j, err := submitSpec(t, cl, "corrupt", s)
	if err != nil {
		t.Fatal(err)
	}
	j = waitJob(t, cl, j.ID, 60*time.Second, "three committed checkpoints", func(j *api.JobInfo) bool { return len(j.Checkpoints) >= 3 })
	w := c.worker(j, 0)
	if err := w.Signal(syscall.SIGSTOP); err != nil { // no more steps while the copies are spoilt
		t.Fatal(err)
	}
	j, _ = cl.Job(ctx(t), j.ID)
	keep := j.Checkpoints[0].Step
	spoilt := map[int64]bool{}
	for _, k := range j.Checkpoints[1:] {
		for _, f := range k.Files {
			for _, node := range f.Nodes {
				for _, cfg := range c.cfgs {
					if cfg.Name != node {
						continue
					}
					root, _ := jobPaths{dataDir: cfg.DataDir}.ckptRoot(j.ID, j.Spec)
					flipByte(t, filepath.Join(stepIn(root, k.Step), f.Name))
				}
			}
		}
		spoilt[k.Step] = true
	}
	if err := w.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	j = waitJob(t, cl, j.ID, 90*time.Second, "success from an intact checkpoint", state(api.JobSucceeded))
	var skipped []string
	for _, a := range j.Attempts {
		t.Logf("attempt %d from step %d: %s", a.N, a.FromStep, a.Cause)
		if strings.Contains(a.Cause, "is unusable and is skipped") {
			skipped = append(skipped, a.Cause)
		}
	}
	last := j.Attempts[len(j.Attempts)-1]
	if !spoilt[j.Attempts[1].FromStep] {
		t.Skipf("attempt 2 resumed from step %d, committed after the copies were spoilt", j.Attempts[1].FromStep)
	}
	if last.FromStep != keep || len(skipped) != len(spoilt) {
		t.Fatalf("the last attempt resumed from step %d, want %d; %d checkpoints skipped, %d spoilt", last.FromStep, keep, len(skipped), len(spoilt))
	}
	if !strings.Contains(skipped[0], "no node holds a copy that verifies") {
		t.Errorf("skip reason %q", skipped[0])
	}
	if j.Progress == nil || ref.Progress == nil || j.Progress.Loss != ref.Progress.Loss {
		t.Errorf("final loss %+v, uninterrupted %+v", j.Progress, ref.Progress)
	}
}

// flipByte spoils a file without changing its size.
func flipByte(t *testing.T, path string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 0xff
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}
