package daemon

import (
	"os"
	"sync"

	"bloom/daemon/coord"
)

// Checkpoint retention on this node. The leader retires checkpoints in Raft
// (coord.RetireCheckpoints); every node applying that entry deletes the
// retired step directories it holds under the job's checkpoint root: the
// writer's and every copy's. The record forgets a checkpoint before any
// file goes, so nothing committed ever points at deleted bytes. Files of a
// checkpoint retired as unusable (corrupt everywhere) are left for the
// operator to look at. A node that was down while a retirement happened
// deletes when it replays the entry; one restored from a snapshot that
// already holds the retirement keeps those files (the log entry is gone).

// retired is the queue of step directories to delete, filled by the FSM
// (which must not wait on the disk) and emptied by deleteRetired.
type retired struct {
	mu    sync.Mutex
	dirs  []string
	ready chan struct{}
}

func newRetired() *retired { return &retired{ready: make(chan struct{}, 1)} }

func (r *retired) add(dirs ...string) {
	r.mu.Lock()
	r.dirs = append(r.dirs, dirs...)
	r.mu.Unlock()
	select {
	case r.ready <- struct{}{}:
	default:
	}
}

func (r *retired) take() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	d := r.dirs
	r.dirs = nil
	return d
}

// onApply is the FSM's hook, run under its lock after cmd applied: the
// step directories a retention retirement frees, for deleteRetired.
func (d *Daemon) onApply(st *coord.State, cmd coord.Command) {
	var c coord.RetireCheckpoints
	switch v := cmd.(type) {
	case *coord.RetireCheckpoints: // as Decode returns it
		c = *v
	case coord.RetireCheckpoints:
		c = v
	default:
		return
	}
	if c.Unusable {
		return
	}
	j := st.Jobs[c.ID]
	if j == nil {
		return
	}
	root, ok := d.paths.ckptRoot(j.ID, j.Spec)
	if !ok {
		return
	}
	var dirs []string
	for _, s := range c.Steps {
		dirs = append(dirs, stepIn(root, s))
	}
	d.retired.add(dirs...)
}

// deleteRetired deletes retired step directories until the daemon stops.
func (d *Daemon) deleteRetired() {
	for {
		select {
		case <-d.stop:
			return
		case <-d.retired.ready:
		}
		for _, dir := range d.retired.take() {
			if _, err := os.Stat(dir); err != nil {
				continue // never held here
			}
			if err := os.RemoveAll(dir); err != nil {
				d.log.Warn("cannot delete a retired checkpoint", "dir", dir, "err", err)
				continue
			}
			d.log.Info("retired checkpoint deleted", "dir", dir)
		}
	}
}
