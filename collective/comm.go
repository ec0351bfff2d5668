package collective

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
)

// Comm is one rank's communicator. Operations run one at a time, in call
// order; every rank must issue the same operations in the same order with
// the same counts, types and ops (HCCL's contract). Abort may be called from
// any goroutine at any time.
type Comm struct {
	rank, size int
	hosts      []string // node of each rank
	cfg        Config
	tr         transport

	flat, intra, inter group // flat ring 0..n-1; hierarchical levels when hier
	hier               bool
	noFuse             bool // tests: take the two-goroutine engine on shm too

	mu      sync.Mutex // one operation at a time; guards scratch
	scratch [2][]uint64

	state     atomic.Int32 // stateOK, stateAborted, stateClosed
	closeOnce sync.Once
	cause     atomic.Pointer[error]
}

const (
	stateOK int32 = iota
	stateAborted
	stateClosed
)

func newComm(cfg Config, rank, size int, hosts []string, tr transport) *Comm {
	c := &Comm{rank: rank, size: size, hosts: hosts, cfg: cfg, tr: tr, noFuse: cfg.noFuse}
	all := make([]int, size)
	for i := range all {
		all[i] = i
	}
	c.flat = group{ranks: all, me: rank}
	c.intra, c.inter, c.hier = hierarchy(hosts, rank)
	return c
}

// Rank is this rank's index, 0..Size()-1.
func (c *Comm) Rank() int { return c.rank }

// Size is the number of ranks.
func (c *Comm) Size() int { return c.size }

// Hierarchical reports whether AllReduce runs in two levels (inside each
// node, then across nodes): when ranks share nodes and every node holds the
// same number of them.
func (c *Comm) Hierarchical() bool { return c.hier }

// Abort makes every blocked operation on every rank return an error wrapping
// ErrAborted, within a second; later operations fail at once. Safe from any
// goroutine; the communicator must still be Closed.
func (c *Comm) Abort() {
	c.fail(fmt.Errorf("%w by rank %d", ErrAborted, c.rank))
}

// Close leaves the communicator and releases its links, files and
// goroutines. Peers blocked on this rank get ErrPeerLost (or ErrAborted).
// Over quic a send completes once QUIC holds the data, so Close waits (up
// to PeerTimeout) for the ranks this one sends to to close too, which keeps
// the last operation's messages from being cut off: close every rank at the
// end of a job, not one at a time.
func (c *Comm) Close() error {
	if c.state.CompareAndSwap(stateOK, stateClosed) {
		err := error(ErrClosed)
		c.cause.Store(&err)
	}
	var err error
	c.closeOnce.Do(func() {
		err = c.tr.close()
		c.mu.Lock() // wait for a running operation to notice
		defer c.mu.Unlock()
		if r, ok := c.tr.(interface{ release() }); ok {
			r.release()
		}
	})
	if err != nil {
		return fmt.Errorf("collective: close: %w", err)
	}
	return nil
}

// fail aborts the communicator everywhere with cause (first cause wins).
func (c *Comm) fail(cause error) {
	if !errors.Is(cause, ErrAborted) {
		cause = fmt.Errorf("%w: %w", ErrAborted, cause)
	}
	if c.state.CompareAndSwap(stateOK, stateAborted) {
		c.cause.Store(&cause)
	}
	c.tr.abort(cause)
}

func (c *Comm) failed() error {
	if c.state.Load() == stateOK {
		return nil
	}
	if p := c.cause.Load(); p != nil {
		return *p
	}
	return ErrAborted
}

// run is every operation's frame: one at a time, bounded by OpTimeout, and
// any failure once messages may have moved aborts the communicator.
func (c *Comm) run(ctx context.Context, name string, f func(ctx context.Context) error) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.failed(); err != nil {
		return fmt.Errorf("collective: %s (rank %d): %w", name, c.rank, err)
	}
	if c.cfg.OpTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeoutCause(ctx, c.cfg.OpTimeout, ErrTimeout)
		defer cancel()
	}
	err := f(ctx)
	if err == nil {
		return nil
	}
	c.fail(err)
	return fmt.Errorf("collective: %s (rank %d): %w", name, c.rank, err)
}

// ctxErr is the error a transport returns when ctx ends: the cause, and
// context.DeadlineExceeded with ErrTimeout when a deadline passed.
func ctxErr(ctx context.Context) error {
	err, cause := ctx.Err(), context.Cause(ctx)
	if errors.Is(err, context.DeadlineExceeded) && !errors.Is(cause, ErrTimeout) {
		return fmt.Errorf("%w: %w", ErrTimeout, cause)
	}
	if cause == err {
		return err
	}
	return fmt.Errorf("%w (%w)", cause, err)
}

// buf returns scratch slot i with at least n bytes, 8-byte aligned, reused
// across operations: fresh memory costs a page fault per 4 KiB.
func (c *Comm) buf(i, n int) []byte {
	words := (n + 7) / 8
	if cap(c.scratch[i]) < words {
		c.scratch[i] = make([]uint64, words)
	}
	if words == 0 {
		return nil
	}
	return bytesOf(c.scratch[i][:words])[:n]
}

// group is a ring: ranks in ring order and this rank's index in it.
type group struct {
	ranks []int
	me    int
}

func (g group) n() int    { return len(g.ranks) }
func (g group) next() int { return g.ranks[(g.me+1)%len(g.ranks)] }
func (g group) prev() int { return g.ranks[(g.me+len(g.ranks)-1)%len(g.ranks)] }

// hierarchy splits ranks by node: intra holds this node's ranks, inter the
// ranks with this rank's local index on every node. ok only if there are
// several nodes with the same number (> 1) of ranks each.
func hierarchy(hosts []string, rank int) (intra, inter group, ok bool) {
	var order []string
	byHost := map[string][]int{}
	for r, h := range hosts {
		if _, seen := byHost[h]; !seen {
			order = append(order, h)
		}
		byHost[h] = append(byHost[h], r)
	}
	local := len(byHost[hosts[rank]])
	if len(order) < 2 || local < 2 {
		return group{}, group{}, false
	}
	for _, h := range order {
		if len(byHost[h]) != local {
			return group{}, group{}, false
		}
	}
	intra.ranks = byHost[hosts[rank]]
	intra.me = indexOf(intra.ranks, rank)
	for i, h := range order {
		inter.ranks = append(inter.ranks, byHost[h][intra.me])
		if h == hosts[rank] {
			inter.me = i
		}
	}
	return intra, inter, true
}

func indexOf(s []int, v int) int {
	for i, x := range s {
		if x == v {
			return i
		}
	}
	return -1
}

// concurrently runs send on a goroutine while recv runs on this one; the
// first failure cancels the other and is returned.
func (c *Comm) concurrently(ctx context.Context, send, recv func(ctx context.Context) error) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	sent := make(chan error, 1)
	go func() { // owned by concurrently: joined below
		err := send(ctx)
		if err != nil {
			cancel(err)
		}
		sent <- err
	}()
	rerr := recv(ctx)
	if rerr != nil {
		cancel(rerr)
	}
	if serr := <-sent; rerr != nil || serr != nil {
		return context.Cause(ctx) // the first failure
	}
	return nil
}
