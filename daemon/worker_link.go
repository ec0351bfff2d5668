package daemon

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"

	"bloom/api"
	"bloom/daemon/coord"
	"bloom/daemon/jobspec"
)

// WorkerAssignment is what a daemon tells a worker it starts, as the first
// line of the worker's stdin: which rank of which attempt to run, where.
type WorkerAssignment struct {
	Job     string     `json:"job"`
	Attempt int        `json:"attempt"`
	Rank    int        `json:"rank"`
	Plan    coord.Plan `json:"plan"`
	Node    string     `json:"node"`
	// Device is the backend and index: "cpu:0", "npu:3".
	Device  string  `json:"device"`
	Threads int     `json:"threads"`
	Spec    jobspec.Spec `json:"spec"`
	// FromStep is the committed checkpoint this attempt resumes from
	// (0: a fresh start), LoadDir its directory on this node.
	FromStep int64  `json:"from_step"`
	LoadDir  string `json:"load_dir,omitempty"`
	// SaveDir is the root of the job's checkpoints on this node.
	SaveDir string `json:"save_dir"`
	// BindHost is the node's address, where the collective listens.
	BindHost string `json:"bind_host,omitempty"`
	// Secret is the cluster secret, for the collective's TLS identity and
	// checkpoint fetches; only a worker that needs one of them gets it.
	Secret string `json:"secret,omitempty"`
	// Fetch, when resuming, lists where the checkpoint's files live.
	Fetch *ckptFetch `json:"fetch,omitempty"`
}

// Size is the job's rank count.
func (a *WorkerAssignment) Size() int { return len(a.Plan.Ranks) }

// workerMsg is one line of the worker↔daemon protocol. Worker → daemon,
// on the control pipe (fd 3): progress, saving (Step), shard, stopped
// (Step: it stopped early on request after saving that step), error,
// publish (Key, Value), lookup (ID, Key, Owner). Daemon → worker, on stdin
// after the assignment: lookup (ID, Value or Error), and checkpoint-stop
// (checkpoint at the next step boundary every rank agrees on, then exit).
type workerMsg struct {
	Type     string            `json:"type"`
	Progress *api.StepProgress `json:"progress,omitempty"`
	Step     int64             `json:"step,omitempty"`
	Shard    *api.Shard        `json:"shard,omitempty"`
	Key      string            `json:"key,omitempty"`
	Value    []byte            `json:"value,omitempty"`
	Owner    int               `json:"owner,omitempty"`
	ID       int               `json:"id,omitempty"`
	Error    string            `json:"error,omitempty"`
	Fatal    bool              `json:"fatal,omitempty"` // error: the job's own fault, not worth a restart
}

// maxWorkerLine bounds one protocol line (a root info or a shard report).
const maxWorkerLine = 1 << 20

// workerLink is the worker's end of the protocol: it sends messages to
// the daemon and receives lookup answers. When the daemon closes stdin (it
// is stopping the worker, or it died), Done is closed.
type workerLink struct {
	in   *bufio.Scanner
	outM sync.Mutex
	out  io.Writer

	mu      sync.Mutex
	waiting map[int]chan workerMsg
	next    int
	done    chan struct{}
	stop    atomic.Bool // the daemon asked for checkpoint-stop
}

// msgCheckpointStop asks a worker to checkpoint and stop.
const msgCheckpointStop = "checkpoint-stop"

// openWorkerLink reads the assignment from in and starts reading replies.
// The reader goroutine ends when in does (EOF: the daemon closed it to stop
// the worker, or died); in the worker process that is at the latest when
// the process exits.
func openWorkerLink(in io.Reader, out io.Writer) (*workerLink, WorkerAssignment, error) {
	l := &workerLink{in: bufio.NewScanner(in), out: out, waiting: map[int]chan workerMsg{}, done: make(chan struct{})}
	l.in.Buffer(make([]byte, 64<<10), maxWorkerLine)
	var a WorkerAssignment
	if !l.in.Scan() {
		return nil, a, fmt.Errorf("worker: no assignment on stdin (bloomd worker is started by bloomd join, not by hand): %v", l.in.Err())
	}
	if err := json.Unmarshal(l.in.Bytes(), &a); err != nil {
		return nil, a, fmt.Errorf("worker: bad assignment: %w", err)
	}
	go l.readReplies()
	return l, a, nil
}

func (l *workerLink) readReplies() {
	defer close(l.done)
	for l.in.Scan() {
		var m workerMsg
		if json.Unmarshal(l.in.Bytes(), &m) != nil {
			continue
		}
		if m.Type == msgCheckpointStop {
			l.stop.Store(true)
			continue
		}
		l.mu.Lock()
		ch := l.waiting[m.ID]
		delete(l.waiting, m.ID)
		l.mu.Unlock()
		if ch != nil {
			ch <- m
		}
	}
}

// StopRequested reports whether the daemon asked this worker to
// checkpoint and stop (its node is going down for a restart).
func (l *workerLink) StopRequested() bool { return l.stop.Load() }

// Done is closed when the daemon closes the worker's stdin.
func (l *workerLink) Done() <-chan struct{} { return l.done }

func (l *workerLink) send(m workerMsg) error {
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	l.outM.Lock()
	defer l.outM.Unlock()
	_, err = l.out.Write(append(b, '\n'))
	return err
}

// Publish makes value readable by every rank of the attempt under key.
func (l *workerLink) Publish(key string, value []byte) error {
	return l.send(workerMsg{Type: "publish", Key: key, Value: value})
}

// Lookup waits for the value rank owner publishes under key.
func (l *workerLink) Lookup(ctx context.Context, owner int, key string) ([]byte, error) {
	ch := make(chan workerMsg, 1)
	l.mu.Lock()
	l.next++
	id := l.next
	l.waiting[id] = ch
	l.mu.Unlock()
	defer func() {
		l.mu.Lock()
		delete(l.waiting, id)
		l.mu.Unlock()
	}()
	if err := l.send(workerMsg{Type: "lookup", ID: id, Key: key, Owner: owner}); err != nil {
		return nil, err
	}
	select {
	case m := <-ch:
		if m.Error != "" {
			return nil, errors.New(m.Error)
		}
		return m.Value, nil
	case <-l.done:
		return nil, errors.New("worker: the daemon closed the link")
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}
