package main

import (
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
)

// bloomd's Raft timeouts (daemon.DefaultConfig) and voter cap. They are
// copied: this program may not import the daemon (layering_test.go);
// TestMirrorsBloomd checks that the copies agree.
const (
	bloomdHeartbeat = time.Second
	bloomdElection  = time.Second
	bloomdLease     = 500 * time.Millisecond
	bloomdVoters    = 5
)

// raftConfig is the configuration daemon.startRaft gives hashicorp/raft:
// its defaults (pre-vote on) with bloomd's timeouts.
func raftConfig(id string) *raft.Config {
	rc := raft.DefaultConfig()
	rc.LocalID = raft.ServerID(id)
	rc.HeartbeatTimeout, rc.ElectionTimeout, rc.LeaderLeaseTimeout = bloomdHeartbeat, bloomdElection, bloomdLease
	rc.ShutdownOnRemove = false
	rc.Logger = hclog.NewNullLogger()
	return rc
}

// nopFSM applies nothing: elections do not depend on the state machine.
type nopFSM struct{}

func (nopFSM) Apply(*raft.Log) any                 { return nil }
func (nopFSM) Snapshot() (raft.FSMSnapshot, error) { return nopSnap{}, nil }
func (nopFSM) Restore(r io.ReadCloser) error       { return r.Close() }

type nopSnap struct{}

func (nopSnap) Persist(s raft.SnapshotSink) error { return s.Close() }
func (nopSnap) Release()                          {}

// raftTrial is one cluster's first election and its failover.
type raftTrial struct {
	Elect    time.Duration // from the voters' start to the first leader
	Failover time.Duration // from the leader's crash to the next leader
	Known    time.Duration // from the crash until every survivor knows the new leader
	CPU      float64       // cores the process used with a stable leader (1 s)
}

// raftCluster is voters + nonvoters hashicorp/raft servers on an
// InmemTransport mesh, with in-memory stores (bloomd's bbolt fsyncs are
// not modelled), bootstrapped with one configuration as bloomd's
// bootstrap does.
type raftCluster struct {
	rafts []*raft.Raft
	ids   map[*raft.Raft]raft.ServerID
	trans []*raft.InmemTransport
	addrs []raft.ServerAddress
	obs   chan raft.Observation
	// started is when the first voter started: the non-voters are up by then.
	started time.Time
}

func newRaftCluster(voters, nonvoters int) (*raftCluster, error) {
	n := voters + nonvoters
	c := &raftCluster{ids: map[*raft.Raft]raft.ServerID{}, obs: make(chan raft.Observation, 4*n+64)}
	var conf raft.Configuration
	for i := range n {
		addr, t := raft.NewInmemTransport(raft.ServerAddress(fmt.Sprintf("r%04d", i)))
		c.trans, c.addrs = append(c.trans, t), append(c.addrs, addr)
		s := raft.Server{ID: raft.ServerID(fmt.Sprintf("node-%04d", i)), Address: addr, Suffrage: raft.Voter}
		if i >= voters {
			s.Suffrage = raft.Nonvoter
		}
		conf.Servers = append(conf.Servers, s)
	}
	for v := range voters { // only voters send RPCs: they lead and campaign
		for j := range n {
			c.trans[v].Connect(c.addrs[j], c.trans[j])
			c.trans[j].Connect(c.addrs[v], c.trans[v])
		}
	}
	onlyLeader := func(o *raft.Observation) bool { _, ok := o.Data.(raft.LeaderObservation); return ok }
	// Non-voters first: each is watched before a leader can exist (an
	// observer registered after NewRaft would miss a leader already heard).
	c.rafts = make([]*raft.Raft, n)
	for k := range n {
		i := (k + voters) % n
		if i == 0 {
			c.started = time.Now()
		}
		rc := raftConfig(string(conf.Servers[i].ID))
		store, snaps := raft.NewInmemStore(), raft.NewDiscardSnapshotStore()
		if err := raft.BootstrapCluster(rc, store, store, snaps, c.trans[i], conf); err != nil {
			c.shutdown()
			return nil, fmt.Errorf("scalesim: raft bootstrap: %w", err)
		}
		r, err := raft.NewRaft(rc, nopFSM{}, store, store, snaps, c.trans[i])
		if err != nil {
			c.shutdown()
			return nil, fmt.Errorf("scalesim: raft: %w", err)
		}
		r.RegisterObserver(raft.NewObserver(c.obs, false, onlyLeader))
		c.rafts[i], c.ids[r] = r, conf.Servers[i].ID
	}
	return c, nil
}

// awaitLeader waits for a server other than not to say it leads, then,
// when all is set, for every live server to name it; it returns the
// leader's index and both times, measured from since.
func (c *raftCluster) awaitLeader(not raft.ServerID, since time.Time, all bool, timeout time.Duration) (int, time.Duration, time.Duration, error) {
	deadline := time.After(timeout)
	leader, elected := raft.ServerID(""), time.Duration(0)
	know := map[*raft.Raft]bool{}
	live := len(c.rafts)
	if not != "" {
		live--
	}
	for {
		select {
		case o := <-c.obs:
			lo := o.Data.(raft.LeaderObservation)
			if lo.LeaderID == "" || lo.LeaderID == not {
				continue
			}
			know[o.Raft] = true // a server that names a leader, not the dead one
			if leader == "" && c.ids[o.Raft] == lo.LeaderID && o.Raft.State() == raft.Leader {
				leader, elected = lo.LeaderID, time.Since(since)
			}
			if leader != "" && (!all || len(know) >= live) {
				for i, r := range c.rafts {
					if c.ids[r] == leader {
						return i, elected, time.Since(since), nil
					}
				}
			}
		case <-deadline:
			return -1, 0, 0, fmt.Errorf("scalesim: raft: no leader (leader %q, %d of %d servers know one) after %v", leader, len(know), live, timeout)
		}
	}
}

// crash cuts server i off the network and stops it, as a machine crash.
func (c *raftCluster) crash(i int) {
	for j, t := range c.trans {
		if j != i {
			t.Disconnect(c.addrs[i])
		}
	}
	c.trans[i].DisconnectAll()
	c.rafts[i].Shutdown().Error()
}

func (c *raftCluster) shutdown() {
	var wg sync.WaitGroup
	for _, r := range c.rafts {
		wg.Go(func() { r.Shutdown().Error() })
	}
	wg.Wait()
	for _, t := range c.trans {
		t.Close()
	}
}

// runRaftTrial starts a cluster, waits for its first leader, crashes it
// and waits for the next one and for every survivor to know it.
func runRaftTrial(voters, nonvoters int, timeout time.Duration) (raftTrial, error) {
	var tr raftTrial
	c, err := newRaftCluster(voters, nonvoters)
	if err != nil {
		return tr, err
	}
	defer c.shutdown()
	lead, elect, _, err := c.awaitLeader("", c.started, true, timeout)
	if err != nil {
		return tr, err
	}
	tr.Elect = elect
	cpu0, t0 := cpuTime(), time.Now()
	<-time.After(time.Second)
	tr.CPU = (cpuTime() - cpu0).Seconds() / time.Since(t0).Seconds()
	old := c.ids[c.rafts[lead]]
	crashed := time.Now()
	c.crash(lead)
	if _, tr.Failover, tr.Known, err = c.awaitLeader(old, crashed, true, timeout); err != nil {
		return tr, err
	}
	return tr, nil
}
