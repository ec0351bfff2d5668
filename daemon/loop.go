package daemon

import (
	"sort"
	"strings"
	"time"

	"github.com/hashicorp/raft"

	"bloom/daemon/coord"
	"bloom/membership"
)

// loopTick is how often the main loop looks at gossip and Raft even when
// nothing signalled.
const loopTick = 200 * time.Millisecond

// drainNotify empties raft's NotifyCh at once, so raft never blocks on it,
// and only signals the main loop; it makes no raft calls itself.
func (d *Daemon) drainNotify() {
	for {
		select {
		case <-d.stop:
			return
		case v := <-d.raft.notify:
			d.log.Info("raft leadership changed", "leader", v)
			select {
			case d.leaderCh <- struct{}{}:
			default:
			}
		}
	}
}

// watchObservations counts leader changes and tracks peers the leader
// cannot heartbeat (raft drops observations rather than block).
func (d *Daemon) watchObservations() {
	var last raft.ServerID
	for {
		select {
		case <-d.stop:
			return
		case o := <-d.raft.observed:
			switch v := o.Data.(type) {
			case raft.LeaderObservation:
				if v.LeaderID != "" && v.LeaderID != last {
					d.metrics.leaderChanges.Add(1)
					d.log.Info("leader elected", "leader", string(v.LeaderID), "addr", string(v.LeaderAddr))
				}
				last = v.LeaderID
			case raft.FailedHeartbeatObservation:
				d.mu.Lock()
				d.failing[string(v.PeerID)] = true
				d.mu.Unlock()
			case raft.ResumedHeartbeatObservation:
				d.mu.Lock()
				delete(d.failing, string(v.PeerID))
				d.mu.Unlock()
			}
		}
	}
}

// loop is the daemon's main loop: bootstrap, leadership, reconciliation.
// Everything it calls runs on this one goroutine.
func (d *Daemon) loop() {
	t := time.NewTicker(loopTick)
	defer t.Stop()
	for {
		select {
		case <-d.stop:
			return
		case <-d.leaderCh:
		case <-d.ml.Changed():
		case <-t.C:
		}
		d.step()
	}
}

func (d *Daemon) step() {
	d.syncClusterID()
	d.recordPeers()
	d.watchRaftLog()
	if !d.bootstrapped {
		d.maybeBootstrap()
	}
	if d.raft.State() != raft.Leader {
		if d.leaderReady.Swap(false) {
			d.log.Info("no longer the coordinator")
		}
		return
	}
	if !d.leaderReady.Load() {
		d.establish()
		return
	}
	if time.Since(d.lastRecon) >= d.cfg.ReconcileInterval {
		d.lastRecon = time.Now()
		d.reconcile()
	}
}

// establish runs once per leadership term: a Barrier so the state machine
// has applied everything committed before this node acts on it (raft
// issue 509), then the cluster id if the log has none yet.
func (d *Daemon) establish() {
	start := time.Now()
	if err := d.raft.Barrier(d.cfg.ApplyTimeout).Error(); err != nil {
		d.log.Warn("barrier failed; will retry", "err", err)
		return
	}
	d.leaderSince = time.Now()
	d.healthy = map[string]time.Time{}
	d.mu.Lock()
	d.failing = map[string]bool{} // observations of an earlier term no longer hold
	d.mu.Unlock()
	d.leaderReady.Store(true)
	d.log.Info("became the coordinator", "barrier", time.Since(start), "term", d.raft.CurrentTerm())
	var have string
	d.fsm.read(func(s *coord.State) { have = s.ClusterID })
	if id := d.clusterID(); have == "" && id != "" {
		if err := d.Apply(coord.SetCluster{ID: id}); err != nil {
			d.log.Warn("record cluster id", "err", err)
		}
	}
}

// syncClusterID records the cluster id the log carries in the data dir and
// in gossip, and marks this node as having Raft state once it has any.
func (d *Daemon) syncClusterID() {
	var id string
	d.fsm.read(func(s *coord.State) { id = s.ClusterID })
	meta := d.ml.Meta()
	changed := false
	if id != "" && meta.Cluster != id {
		d.mu.Lock()
		err := d.dir.setCluster(id)
		d.mu.Unlock()
		if err != nil {
			d.log.Error("cluster id conflict", "err", err)
			return
		}
		meta.Cluster, changed = id, true
	}
	if !meta.State && d.raft.LastIndex() > 0 {
		meta.State, meta.Boot, changed = true, "", true
	}
	if changed {
		if err := d.ml.UpdateMeta(func(m *membership.NodeMeta) { m.Cluster, m.State, m.Boot = meta.Cluster, meta.State, meta.Boot }, time.Second); err != nil {
			d.log.Warn("gossip metadata", "err", err)
		}
	}
}

// recordPeers keeps the data dir's list of live peers' gossip addresses
// current (loop goroutine only).
func (d *Daemon) recordPeers() {
	var addrs []string
	for _, m := range d.ml.Members() {
		if m.Name != d.cfg.Name && live(m) {
			addrs = append(addrs, m.Addr)
		}
	}
	sort.Strings(addrs)
	key := strings.Join(addrs, ",")
	if len(addrs) == 0 || key == d.savedPeers {
		return
	}
	if err := d.dir.savePeers(addrs); err != nil {
		d.log.Warn("record peers", "err", err)
		return
	}
	d.savedPeers = key
}
