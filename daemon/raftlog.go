package daemon

import (
	"sync"
	"time"

	"github.com/hashicorp/raft"

	"bloom/daemon/coord"
	"bloom/membership"
)

// watchedLog is the Raft log store with the outcome of its appends kept: a
// node whose disk refuses the log's writes (full, read-only, failing) goes
// on answering and heartbeating, so nothing else notices; it says so in
// gossip (NodeMeta.RaftErr) and every node's status reports it.
type watchedLog struct {
	raft.LogStore
	fault func() error // tests: an injected failure

	mu     sync.Mutex
	err    error     // the last append's error; nil after a success
	failed time.Time // when appends began to fail
}

func (w *watchedLog) StoreLog(l *raft.Log) error { return w.StoreLogs([]*raft.Log{l}) }

func (w *watchedLog) StoreLogs(logs []*raft.Log) error {
	var err error
	if w.fault != nil {
		err = w.fault()
	}
	if err == nil {
		err = w.LogStore.StoreLogs(logs)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	switch {
	case err == nil:
		w.err, w.failed = nil, time.Time{}
	case w.err == nil:
		w.err, w.failed = err, time.Now()
	default:
		w.err = err
	}
	return err
}

// failure is the error appends fail with and since when; nil while they
// succeed.
func (w *watchedLog) failure() (time.Time, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.failed, w.err
}

// watchRaftLog publishes in gossip whether this node's Raft log takes
// appends, when that changes (loop goroutine).
func (d *Daemon) watchRaftLog() {
	since, err := d.raft.log.failure()
	say := ""
	if err != nil {
		say = coord.Truncate("since "+since.Format("15:04:05")+": "+err.Error(), 160)
	}
	if d.ml.Meta().RaftErr == say {
		return
	}
	if say != "" {
		d.log.Error("the Raft log refuses appends: this node cannot take new entries", "err", err, "since", since)
	} else {
		d.log.Info("the Raft log takes appends again")
	}
	if err := d.ml.UpdateMeta(func(m *membership.NodeMeta) { m.RaftErr = say }, time.Second); err != nil {
		d.log.Warn("gossip metadata", "err", err)
	}
}
