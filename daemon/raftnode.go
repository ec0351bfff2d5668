package daemon

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	"go.etcd.io/bbolt"
)

// raftNode is this node's Raft instance (its methods are the node's) and
// the stores under it.
type raftNode struct {
	*raft.Raft
	store    *raftboltdb.BoltStore
	log      *watchedLog // the store as Raft appends to it
	trans    *raft.NetworkTransport
	layer    *raftLayer
	notify   chan bool
	observed chan raft.Observation
	observer *raft.Observer
	hasState bool
}

// openStores opens the bolt log/stable store and the snapshot store,
// turning a corrupt file into ErrCorruptStore instead of a panic deep in bbolt.
func openStores(d *dataDir, log *slog.Logger, level slog.Level) (store *raftboltdb.BoltStore, snaps *raft.FileSnapshotStore, hasState bool, err error) {
	defer func() {
		if p := recover(); p != nil {
			if store != nil {
				store.Close()
			}
			err = fmt.Errorf("%w: %s: %v (move it away to rejoin as a fresh node, or restore it from a backup)", ErrCorruptStore, d.raftDB(), p)
		}
	}()
	store, err = raftboltdb.New(raftboltdb.Options{Path: d.raftDB(), BoltOptions: &bbolt.Options{Timeout: time.Second}})
	if err != nil {
		return nil, nil, false, fmt.Errorf("%w: %s: %v (move it away to rejoin as a fresh node, or restore it from a backup)", ErrCorruptStore, d.raftDB(), err)
	}
	snaps, err = raft.NewFileSnapshotStoreWithLogger(d.snapDir(), 2, newHCLogger(log, level))
	if err != nil {
		store.Close()
		return nil, nil, false, fmt.Errorf("daemon: snapshot store: %w", err)
	}
	hasState, err = raft.HasExistingState(store, store, snaps)
	if err != nil {
		store.Close()
		return nil, nil, false, fmt.Errorf("%w: %s: %v", ErrCorruptStore, d.raftDB(), err)
	}
	return store, snaps, hasState, nil
}

// startRaft starts Raft on the stream layer. It never bootstraps: that is
// the daemon's decision, made later from gossip.
func startRaft(cfg *Config, d *dataDir, f *fsm, layer *raftLayer, log *slog.Logger) (*raftNode, error) {
	store, snaps, hasState, err := openStores(d, cfg.Logger, cfg.RaftLogLevel)
	if err != nil {
		return nil, err
	}
	hl := newHCLogger(quiet(cfg.Logger), cfg.RaftLogLevel) // Raft logs every heartbeat a dead voter misses
	trans := raft.NewNetworkTransportWithConfig(&raft.NetworkTransportConfig{
		Stream: layer, MaxPool: 3, Timeout: 10 * time.Second, Logger: hl,
	})
	rc := raft.DefaultConfig()
	rc.LocalID = raft.ServerID(cfg.Name)
	rc.HeartbeatTimeout, rc.ElectionTimeout = cfg.HeartbeatTimeout, cfg.ElectionTimeout
	rc.LeaderLeaseTimeout = cfg.LeaderLeaseTimeout
	rc.ShutdownOnRemove = false // the daemon owns its lifecycle
	rc.Logger = hl
	n := &raftNode{store: store, log: &watchedLog{LogStore: store, fault: cfg.raftAppendFault}, trans: trans, layer: layer, hasState: hasState,
		notify: make(chan bool, 1), observed: make(chan raft.Observation, 64)}
	rc.NotifyCh = n.notify
	r, err := raft.NewRaft(rc, f, n.log, store, snaps, trans)
	if err != nil {
		trans.Close()
		store.Close()
		return nil, fmt.Errorf("daemon: start raft: %w", err)
	}
	n.Raft = r
	n.observer = raft.NewObserver(n.observed, false, func(o *raft.Observation) bool {
		switch o.Data.(type) {
		case raft.LeaderObservation, raft.FailedHeartbeatObservation, raft.ResumedHeartbeatObservation:
			return true
		}
		return false
	})
	r.RegisterObserver(n.observer)
	log.Info("raft started", "existing_state", hasState, "data_dir", d.path)
	return n, nil
}

// shutdown stops Raft and closes its stores.
func (n *raftNode) shutdown() error {
	n.DeregisterObserver(n.observer)
	err := n.Shutdown().Error()
	err = errors.Join(err, n.trans.Close())
	n.layer.closeConns()
	err = errors.Join(err, n.store.Close())
	return err
}

// roleOf reports a server's role in a configuration.
func roleOf(c raft.Configuration, id string, leader raft.ServerID) string {
	for _, s := range c.Servers {
		if string(s.ID) != id {
			continue
		}
		switch {
		case s.ID == leader:
			return "leader"
		case s.Suffrage == raft.Voter:
			return "voter"
		default:
			return "nonvoter"
		}
	}
	return "none"
}
