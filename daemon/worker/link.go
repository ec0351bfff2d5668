package worker

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
)

// daemonLink is the worker's end of the protocol: it sends messages to
// the daemon and receives lookup answers. When the daemon closes stdin (it
// is stopping the worker, or it died), Done is closed.
type daemonLink struct {
	in   *bufio.Scanner
	outM sync.Mutex
	out  io.Writer

	mu      sync.Mutex
	waiting map[int]chan Msg
	next    int
	done    chan struct{}
	stop    atomic.Bool // the daemon asked for checkpoint-stop
}

// openLink reads the assignment from in and starts reading replies.
// The reader goroutine ends when in does (EOF: the daemon closed it to stop
// the worker, or died); in the worker process that is at the latest when
// the process exits.
func openLink(in io.Reader, out io.Writer) (*daemonLink, Assignment, error) {
	l := &daemonLink{in: bufio.NewScanner(in), out: out, waiting: map[int]chan Msg{}, done: make(chan struct{})}
	l.in.Buffer(make([]byte, 64<<10), MaxLine)
	var a Assignment
	if !l.in.Scan() {
		return nil, a, fmt.Errorf("worker: no assignment on stdin (bloomd worker is started by bloomd join, not by hand): %v", l.in.Err())
	}
	if err := json.Unmarshal(l.in.Bytes(), &a); err != nil {
		return nil, a, fmt.Errorf("worker: bad assignment: %w", err)
	}
	go l.readReplies()
	return l, a, nil
}

func (l *daemonLink) readReplies() {
	defer close(l.done)
	for l.in.Scan() {
		var m Msg
		if json.Unmarshal(l.in.Bytes(), &m) != nil {
			continue
		}
		if m.Type == MsgCheckpointStop {
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
func (l *daemonLink) StopRequested() bool { return l.stop.Load() }

// Done is closed when the daemon closes the worker's stdin.
func (l *daemonLink) Done() <-chan struct{} { return l.done }

func (l *daemonLink) send(m Msg) error {
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
func (l *daemonLink) Publish(key string, value []byte) error {
	return l.send(Msg{Type: "publish", Key: key, Value: value})
}

// Lookup waits for the value rank owner publishes under key.
func (l *daemonLink) Lookup(ctx context.Context, owner int, key string) ([]byte, error) {
	ch := make(chan Msg, 1)
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
	if err := l.send(Msg{Type: "lookup", ID: id, Key: key, Owner: owner}); err != nil {
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
