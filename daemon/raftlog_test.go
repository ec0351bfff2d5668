package daemon

import (
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"bloom/daemon/coord"
)

// TestRaftAppendFailure: a follower whose Raft log refuses appends (its
// disk full: ENOSPC at the log store) goes on heartbeating, so Raft alone
// never says so; status on any node names it and the error, members shows
// it, and both clear once its appends succeed again.
func TestRaftAppendFailure(t *testing.T) {
	checkGoroutines(t)
	full := map[string]*atomic.Bool{}
	c := startDaemons(t, 3, func(cfg *Config) {
		flag := &atomic.Bool{}
		full[cfg.Name] = flag
		cfg.raftAppendFault = func() error {
			if flag.Load() {
				return syscall.ENOSPC
			}
			return nil
		}
	}, false)
	l := c.waitLeader(10 * time.Second)
	var victim *Daemon
	for _, d := range c.nodes {
		if d != l {
			victim = d
		}
	}
	full[victim.Name()].Store(true)
	if err := l.Apply(coord.SetCluster{ID: l.clusterID()}); err != nil { // an entry to replicate
		t.Fatal(err)
	}
	for _, d := range c.nodes {
		waitFor(t, 15*time.Second, d.Name()+" reporting "+victim.Name()+"'s log", func() bool {
			st := d.Status()
			return !st.Health.Healthy && strings.Contains(st.Health.Reason, victim.Name()+"'s Raft log refuses appends") &&
				strings.Contains(st.Health.Reason, "no space left on device")
		})
	}
	t.Logf("status: %s", l.Status().Health.Reason)
	found := false
	for _, m := range l.Members().Members {
		found = found || m.Name == victim.Name() && strings.Contains(m.RaftError, "no space left on device")
	}
	if !found {
		t.Fatalf("members does not show %s's Raft error: %+v", victim.Name(), l.Members().Members)
	}
	full[victim.Name()].Store(false)
	waitFor(t, 15*time.Second, "healthy again once the log takes appends", func() bool {
		return l.Status().Health.Healthy && victim.raft.LastIndex() >= l.raft.LastIndex()
	})
}
