package main

import (
	"testing"
	"time"

	"bloom/daemon"
)

// The small simulation in make test: 32 members form, a crashed one is
// declared dead by all 31 others, and a 5-voter Raft elects a new leader
// after its leader crashes. Deadlines, no sleeps: the phases wait on
// memberlist's and Raft's events.

func TestGossipSmall(t *testing.T) {
	if testing.Short() {
		t.Skip("32 memberlist instances: ~10 s")
	}
	// 32 members: memberlist's push/pull interval is not scaled up yet
	// (15 s; ×2 at 50). Formation usually takes seconds, but gossip's
	// retransmit limit (RetransmitMult × log10 n = 8 sends per node) leaves
	// about e^-8 of (node, join) pairs uninformed, and those wait for the
	// next push/pull: first after a random stagger of up to 15 s.
	const n = 32
	r, err := runGossip(gossipOptions{N: n, FormTimeout: time.Minute, DetTimeout: 30 * time.Second, Progress: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Detect) != n-1 {
		t.Fatalf("%d survivors declared the crashed node dead, want %d", len(r.Detect), n-1)
	}
	// Lifeguard never declares a node dead before the shortest suspicion
	// timeout, SuspicionMult × log10(n) × ProbeInterval, n being the members
	// the declaring node counts (fewer when it has wrongly found others dead
	// on a starved machine: allow half). Late declarations are bounded by
	// the deadline only: a loaded machine delays them, it cannot hasten them.
	if lo, _ := suspicionBounds(n / 2); r.Detect[0] < lo {
		t.Errorf("first declared dead %v after the crash, before the shortest suspicion timeout %v", r.Detect[0], lo)
	}
	t.Logf("formed in %v; dead for all after %v (first %v); false dead %d, dropped %d", r.Formation, r.Detect[n-2], r.Detect[0], r.FalseDead, r.Dropped)
}

func TestRaftFailover(t *testing.T) {
	if testing.Short() {
		t.Skip("Raft elections take seconds")
	}
	for _, nonvoters := range []int{0, 20} {
		tr, err := runRaftTrial(bloomdVoters, nonvoters, 30*time.Second)
		if err != nil {
			t.Fatalf("%d non-voters: %v", nonvoters, err)
		}
		// A follower waits at least HeartbeatTimeout before it campaigns.
		if tr.Failover < bloomdHeartbeat || tr.Known < tr.Failover {
			t.Errorf("%d non-voters: failover %v, all know %v: want ≥ %v and all after the leader", nonvoters, tr.Failover, tr.Known, bloomdHeartbeat)
		}
		t.Logf("5 voters + %d non-voters: elected %v, failover %v, all know %v", nonvoters, tr.Elect, tr.Failover, tr.Known)
	}
}

// TestMirrorsBloomd checks the settings this program copies from the
// daemon, which it may not import.
func TestMirrorsBloomd(t *testing.T) {
	c := daemon.DefaultConfig()
	if c.HeartbeatTimeout != bloomdHeartbeat || c.ElectionTimeout != bloomdElection || c.LeaderLeaseTimeout != bloomdLease || c.MaxVoters != bloomdVoters {
		t.Errorf("daemon.DefaultConfig has heartbeat %v, election %v, lease %v, %d voters; scalesim copies %v, %v, %v, %d: update raftsim.go",
			c.HeartbeatTimeout, c.ElectionTimeout, c.LeaderLeaseTimeout, c.MaxVoters, bloomdHeartbeat, bloomdElection, bloomdLease, bloomdVoters)
	}
}

func TestCoordFixture(t *testing.T) {
	r, err := runCoordOnce(1000, 100)
	if err != nil {
		t.Fatal(err)
	}
	if r.Running < 70 || r.Pending == 0 {
		t.Errorf("after the first pass %d jobs run and %d wait; want ≥ 70 running and some waiting", r.Running, r.Pending)
	}
}

// BenchmarkPass is a leader's pass at 1,000 members and 100 jobs, after
// its first.
func BenchmarkPass(b *testing.B) {
	f, err := newCoordFixture(1000, 100)
	if err != nil {
		b.Fatal(err)
	}
	firstPass(f)
	b.ReportAllocs()
	for b.Loop() {
		f.s.Pass(f.st, f.g, f.now)
	}
}
