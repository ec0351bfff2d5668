package daemon

import (
	"fmt"
	"io"
	"sync"

	"github.com/hashicorp/raft"

	"bloom/daemon/coord"
)

// fsm adapts coord.State to raft.FSM. Raft calls Apply, Snapshot and
// Restore from its FSM goroutine; readers take a Clone under the lock.
type fsm struct {
	mu    sync.RWMutex
	state *coord.State
	// applied, when set, sees each command the state took, under the lock;
	// it must not block.
	applied func(*coord.State, coord.Command)
}

func newFSM() *fsm { return &fsm{state: coord.NewState()} }

// Apply decodes and applies one log entry. A command this binary cannot
// decode is rejected the same way on every replica of the same version;
// the result (coord.Result) goes back to the proposer.
func (f *fsm) Apply(l *raft.Log) any {
	if l.Type != raft.LogCommand {
		return nil
	}
	cmd, err := coord.Decode(l.Data)
	f.mu.Lock()
	defer f.mu.Unlock()
	if err != nil {
		if l.Index > f.state.Index {
			f.state.Index = l.Index
		}
		return coord.Result{Err: err}
	}
	r := f.state.Apply(l.Index, cmd)
	if r.Err == nil && f.applied != nil {
		f.applied(f.state, cmd)
	}
	return r
}

// Snapshot encodes the state now; Persist writes those bytes later,
// concurrently with Apply.
func (f *fsm) Snapshot() (raft.FSMSnapshot, error) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	b, err := f.state.Snapshot()
	if err != nil {
		return nil, err
	}
	return snapshot(b), nil
}

func (f *fsm) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, coord.MaxSnapshotSize+1))
	if err != nil {
		return fmt.Errorf("daemon: read snapshot: %w", err)
	}
	st, err := coord.Restore(b)
	if err != nil {
		return err
	}
	f.mu.Lock()
	f.state = st
	f.mu.Unlock()
	return nil
}

// read runs fn with the state under the read lock; fn must not keep it.
func (f *fsm) read(fn func(*coord.State)) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	fn(f.state)
}

type snapshot []byte

func (s snapshot) Persist(sink raft.SnapshotSink) error {
	if _, err := sink.Write(s); err != nil {
		sink.Cancel()
		return fmt.Errorf("daemon: write snapshot: %w", err)
	}
	return sink.Close()
}

func (s snapshot) Release() {}
