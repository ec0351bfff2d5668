package sched

import (
	"strings"
	"testing"
	"time"

	"bloom/api"
	"bloom/daemon/coord"
	"bloom/daemon/jobspec"
)

// TestFirstCause: an attempt's cause is the rank that failed on its own,
// not the peers that noticed afterwards, whichever report comes first:
// with only the peers' reports in, the pass waits (up to FirstCause) for
// the first failure's; after that wait the earliest peer is named.
func TestFirstCause(t *testing.T) {
	lost := func(rank int, ms int64) api.RankReport {
		rr := exited(at(rank, 14), "exit status 1")
		rr.Error, rr.Secondary, rr.FailedAt = "collective: allreduce: peer lost", true, t0.UnixMilli()+ms
		return rr
	}
	setup := func(t *testing.T) *fixture {
		f := newFixture(t, 3)
		f.s.cfg.FirstCause = 2 * time.Second
		f.submit("j", spec(t, func(s *jobspec.Spec) { s.DataParallel, s.GlobalBatch = 3, 3 }))
		f.commit("j", 10)
		f.start("j", plan(3, "n1", "n2", "n3"), 10)
		return f
	}
	t.Run("the rank's own error wins", func(t *testing.T) {
		f := setup(t)
		f.report("n1", "j", lost(0, 30))
		if acts := f.pass(); len(acts) != 0 {
			t.Fatalf("ended on a peer's report alone: %s", msgs(acts))
		}
		full := exited(at(2, 14), "exit status 1")
		full.Error, full.FailedAt = "write checkpoint shard: write /data/iter_0000020/mp_rank_00_000.safetensors: no space left on device", t0.UnixMilli()+10
		f.report("n3", "j", full)
		f.report("n2", "j", lost(1, 20))
		ea := only[coord.EndAttempt](t, f.pass())
		want := "rank 2 on n3: worker exit status 1: write checkpoint shard: write /data/iter_0000020/mp_rank_00_000.safetensors: no space left on device (2 other rank(s) failed after it)"
		if ea.Cause != want || ea.Next != coord.JobRecovering {
			t.Fatalf("cause %q\nwant  %q", ea.Cause, want)
		}
	})
	t.Run("only peers: the earliest after the wait", func(t *testing.T) {
		f := setup(t)
		f.report("n1", "j", lost(0, 30))
		f.report("n2", "j", lost(1, 20))
		if acts := f.pass(); len(acts) != 0 {
			t.Fatalf("ended before the wait: %s", msgs(acts))
		}
		f.now = f.now.Add(2 * time.Second)
		ea := only[coord.EndAttempt](t, f.pass())
		if !strings.HasPrefix(ea.Cause, "rank 1 on n2: worker exit status 1: collective: allreduce: peer lost (1 other") {
			t.Fatalf("cause %q", ea.Cause)
		}
	})
	t.Run("a dead node is the cause", func(t *testing.T) {
		f := setup(t)
		f.report("n1", "j", lost(0, 30))
		f.g.Members[2].State = "dead"
		if ea := only[coord.EndAttempt](t, f.pass()); ea.Cause != "node n3 (rank 2) is dead" {
			t.Fatalf("cause %q", ea.Cause)
		}
	})
}

// TestUnusableCheckpoint: a rank that finds no verified copy of the
// checkpoint it resumes from anywhere retires that checkpoint (even the
// newest) and the attempt recovers, whatever the restarts left; the next
// attempt resumes from the checkpoint before it.
func TestUnusableCheckpoint(t *testing.T) {
	f := newFixture(t, 2)
	f.submit("j", spec(t, func(s *jobspec.Spec) { s.MaxRestarts = 0 }))
	f.commit("j", 10)
	f.commit("j", 20)
	f.start("j", plan(2, "n1", "n2"), 20)
	rr := exited(at(0, 20), "exit status 1")
	rr.Error, rr.Unusable = "worker: checkpoint file iter_0000020/mp_rank_00_000.safetensors: no node holds a copy that verifies", 20
	f.report("n1", "j", rr)
	acts := f.pass()
	cmds := commands(acts)
	if len(cmds) != 2 {
		t.Fatalf("commands %#v", cmds)
	}
	rc, ok := cmds[0].(coord.RetireCheckpoints)
	if !ok || !rc.Unusable || len(rc.Steps) != 1 || rc.Steps[0] != 20 {
		t.Fatalf("first command %#v, want step 20 retired as unusable", cmds[0])
	}
	ea := cmds[1].(coord.EndAttempt)
	if ea.Next != coord.JobRecovering || !strings.HasPrefix(ea.Cause, "checkpoint step 20 is unusable and is skipped (rank 0 on n1: worker: checkpoint file") ||
		!strings.HasSuffix(ea.Cause, "the next attempt resumes from step 10") {
		t.Fatalf("end %+v", ea)
	}
	sa := only[coord.StartAttempt](t, f.pass())
	if sa.FromStep != 10 {
		t.Fatalf("next attempt from step %d, want 10", sa.FromStep)
	}
}
