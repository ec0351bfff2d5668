package daemon

import (
	"slices"
	"strings"
	"testing"
	"time"

	"bloom/api"
)

func TestCluster3(t *testing.T) {
	checkGoroutines(t)
	start := time.Now()
	c := startCluster(t, 3, 3)
	l := c.waitLeader(20 * time.Second)
	t.Logf("3 nodes: leader %s after %v", l.Name(), time.Since(start))

	st := l.Status()
	if len(st.Voters) != 3 || !st.Health.Healthy || st.Health.FailureTolerance != 1 || st.ClusterID == "" {
		t.Fatalf("status %+v", st)
	}
	for _, d := range c.nodes {
		waitFor(t, 5*time.Second, d.Name()+" knows the cluster id", func() bool { return d.Status().ClusterID == st.ClusterID })
	}

	// Any node answers; a write on a follower is forwarded to the leader.
	follower := c.nodes[(c.index(l)+1)%3]
	fc := client(t, follower, testSecret)
	ms, err := fc.Members(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	if len(ms.Members) != 3 {
		t.Fatalf("members %+v", ms)
	}
	for _, m := range ms.Members {
		if m.State != api.StateAlive || m.Devices != "cpu:2" || (m.Role != api.RoleVoter && m.Role != api.RoleLeader) {
			t.Errorf("member %+v", m)
		}
	}
	s := tinySpec(5)
	spec, _ := s.Marshal()
	job, err := fc.SubmitJob(ctx(t), api.SubmitJobRequest{Name: "pretrain", Spec: spec})
	if err != nil {
		t.Fatal(err)
	}
	if job.State != "pending" && job.State != "running" {
		t.Errorf("job %+v", job)
	}
	for _, d := range c.nodes {
		waitFor(t, 5*time.Second, d.Name()+" applies the job", func() bool { return d.State().Jobs[job.ID] != nil })
	}
	text, err := fc.Metrics(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`bloom_members{state="alive"} 3`, "# TYPE bloom_raft_apply_duration_seconds histogram", "bloom_raft_commit_index "} {
		if !strings.Contains(text, want) {
			t.Errorf("metrics lack %q:\n%s", want, text)
		}
	}

	// Crash the leader: another is elected, and the crashed node rejoins
	// with its log intact.
	li := c.index(l)
	lastIndex := l.raft.LastIndex()
	l.Kill()
	c.nodes[li] = nil
	start = time.Now()
	l2 := c.waitLeader(20 * time.Second)
	t.Logf("failover to %s after %v", l2.Name(), time.Since(start))
	d := c.restart(li)
	if got := d.raft.LastIndex(); got < lastIndex {
		t.Errorf("restarted node has last index %d, had %d", got, lastIndex)
	}
	waitFor(t, 20*time.Second, "restarted node catches up", func() bool {
		return d.State().Jobs[job.ID] != nil && d.raft.AppliedIndex() >= l2.raft.CommitIndex()
	})

	// A graceful stop of the leader hands leadership over.
	l2 = c.waitLeader(10 * time.Second)
	i2 := c.index(l2)
	start = time.Now()
	if err := l2.Stop(); err != nil {
		t.Fatal(err)
	}
	c.nodes[i2] = nil
	l3 := c.waitLeader(10 * time.Second)
	t.Logf("graceful stop: %s leads after %v", l3.Name(), time.Since(start))
	waitFor(t, 10*time.Second, "stopped node reported left", func() bool {
		for _, m := range l3.Members().Members {
			if m.Name == l2.Name() {
				return m.State == api.StateLeft
			}
		}
		return false
	})
}

func TestCluster5Autopilot(t *testing.T) {
	checkGoroutines(t)
	start := time.Now()
	c := startCluster(t, 5, 3)
	l := c.waitLeader(20 * time.Second)
	waitFor(t, 30*time.Second, "5 voters", func() bool {
		l = c.waitLeader(10 * time.Second)
		return len(l.Status().Voters) == 5
	})
	t.Logf("5 nodes, 5 voters after %v", time.Since(start))
	for _, d := range c.nodes {
		if n := len(d.State().Members); n != 5 {
			waitFor(t, 5*time.Second, d.Name()+" registry has 5 members", func() bool { return len(d.State().Members) == 5 })
		}
	}

	// Crash a voter that is not the leader: it is reported dead and, after
	// the grace, removed; on restart it comes back and is promoted again.
	vi := (c.index(l) + 1) % 5
	victim := c.nodes[vi]
	victim.Kill()
	c.nodes[vi] = nil
	start = time.Now()
	waitFor(t, 20*time.Second, "victim reported dead", func() bool {
		for _, m := range c.waitLeader(10 * time.Second).Members().Members {
			if m.Name == victim.Name() {
				return m.State == api.StateDead
			}
		}
		return false
	})
	t.Logf("dead after %v", time.Since(start))
	waitFor(t, 30*time.Second, "dead voter removed", func() bool {
		return !slices.Contains(c.waitLeader(10*time.Second).Status().Voters, victim.Name())
	})
	c.restart(vi)
	waitFor(t, 30*time.Second, "restarted node promoted again", func() bool {
		st := c.waitLeader(10 * time.Second).Status()
		return len(st.Voters) == 5 && slices.Contains(st.Voters, victim.Name())
	})
}
