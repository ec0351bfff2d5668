package collective

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// MemNetwork is the in-process network of the "mem" transport: ranks are
// goroutines of one process. It injects faults for tests: drop or delay the
// messages of a directed link, kill a rank.
type MemNetwork struct {
	mu     sync.Mutex
	groups map[[16]byte]*memGroup
	drop   map[[2]int]bool
	delay  map[[2]int]time.Duration
	killed map[int]bool
}

// NewMemNetwork returns an empty network.
func NewMemNetwork() *MemNetwork {
	return &MemNetwork{groups: map[[16]byte]*memGroup{}, drop: map[[2]int]bool{},
		delay: map[[2]int]time.Duration{}, killed: map[int]bool{}}
}

// Drop silently discards every later message from rank from to rank to.
func (n *MemNetwork) Drop(from, to int) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.drop[[2]int{from, to}] = true
}

// Delay holds every later message from rank from to rank to for d.
func (n *MemNetwork) Delay(from, to int, d time.Duration) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.delay[[2]int{from, to}] = d
}

// Kill makes rank die in every communicator of the network, as a crashed
// process would: its peers' operations fail with ErrPeerLost, its own fail.
func (n *MemNetwork) Kill(rank int) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.killed[rank] = true
	for _, g := range n.groups {
		g.leave(rank)
	}
}

func (n *MemNetwork) faults(from, to int) (bool, time.Duration) {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.drop[[2]int{from, to}], n.delay[[2]int{from, to}]
}

// memGroup is one communicator's ranks on the network.
type memGroup struct {
	net    *MemNetwork
	size   int
	mu     sync.Mutex
	hosts  []string
	joined int
	ready  chan struct{} // closed when every rank joined
	gone   []chan struct{}
	goneOK []bool
	pipes  map[[2]int]chan memMsg
	abortC chan struct{}
	once   sync.Once
	cause  error
}

type memMsg struct {
	b  []byte
	at time.Time
}

// join registers rank and waits for the others; it returns every rank's host.
func (n *MemNetwork) join(ctx context.Context, id [16]byte, rank, size int, host string) (*memTransport, []string, error) {
	n.mu.Lock()
	g := n.groups[id]
	if g == nil {
		g = &memGroup{net: n, size: size, hosts: make([]string, size), ready: make(chan struct{}),
			gone: make([]chan struct{}, size), goneOK: make([]bool, size), pipes: map[[2]int]chan memMsg{},
			abortC: make(chan struct{})}
		for i := range g.gone {
			g.gone[i] = make(chan struct{})
		}
		n.groups[id] = g
	}
	n.mu.Unlock()
	g.mu.Lock()
	if g.size != size {
		g.mu.Unlock()
		return nil, nil, fmt.Errorf("collective: mem: rank %d joins with size %d, others with %d", rank, size, g.size)
	}
	if g.hosts[rank] != "" {
		g.mu.Unlock()
		return nil, nil, fmt.Errorf("collective: mem: rank %d joined twice", rank)
	}
	g.hosts[rank] = host + "\x00" // non-empty marks joined
	if g.joined++; g.joined == size {
		close(g.ready)
	}
	g.mu.Unlock()
	select {
	case <-g.ready:
	case <-ctx.Done():
		return nil, nil, fmt.Errorf("collective: mem: waiting for %d ranks to join: %w", size, ctxErr(ctx))
	}
	hosts := make([]string, size)
	for i, h := range g.hosts {
		hosts[i] = h[:len(h)-1]
	}
	return &memTransport{g: g, rank: rank}, hosts, nil
}

func (g *memGroup) leave(rank int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.goneOK[rank] {
		g.goneOK[rank] = true
		close(g.gone[rank])
	}
}

func (g *memGroup) pipe(from, to int) chan memMsg {
	g.mu.Lock()
	defer g.mu.Unlock()
	k := [2]int{from, to}
	p := g.pipes[k]
	if p == nil {
		p = make(chan memMsg, 16)
		g.pipes[k] = p
	}
	return p
}

// memTransport is one rank's side of a memGroup.
type memTransport struct {
	g    *memGroup
	rank int
}

func (t *memTransport) link(peer int) (link, error) {
	if peer < 0 || peer >= t.g.size || peer == t.rank {
		return nil, fmt.Errorf("collective: mem: no link from rank %d to %d", t.rank, peer)
	}
	return &memLink{t: t, peer: peer, out: t.g.pipe(t.rank, peer), in: t.g.pipe(peer, t.rank)}, nil
}

func (t *memTransport) abort(cause error) {
	t.g.once.Do(func() {
		t.g.cause = cause
		close(t.g.abortC)
	})
}

func (t *memTransport) close() error {
	t.g.leave(t.rank)
	return nil
}

type memLink struct {
	t       *memTransport
	peer    int
	out, in chan memMsg
}

// check returns the error for a broken link: aborted, this rank gone, or the peer gone.
func (l *memLink) check(ctx context.Context) error {
	g := l.t.g
	select {
	case <-g.abortC:
		return fmt.Errorf("collective: mem: %w", g.cause)
	case <-g.gone[l.t.rank]:
		return fmt.Errorf("collective: mem: rank %d: %w", l.t.rank, ErrClosed)
	case <-g.gone[l.peer]:
		return fmt.Errorf("collective: mem: rank %d: %w", l.peer, ErrPeerLost)
	case <-ctx.Done():
		return ctxErr(ctx)
	default:
		return nil
	}
}

func (l *memLink) send(ctx context.Context, b []byte) error {
	if err := l.check(ctx); err != nil {
		return err
	}
	drop, delay := l.t.g.net.faults(l.t.rank, l.peer)
	if drop {
		return nil
	}
	m := memMsg{b: append([]byte(nil), b...), at: time.Now().Add(delay)}
	g := l.t.g
	select {
	case l.out <- m:
		return nil
	case <-g.abortC:
	case <-g.gone[l.t.rank]:
	case <-g.gone[l.peer]:
	case <-ctx.Done():
	}
	return l.check(ctx)
}

func (l *memLink) recv(ctx context.Context, b []byte) error {
	if err := l.check(ctx); err != nil {
		return err
	}
	g := l.t.g
	var m memMsg
	select {
	case m = <-l.in:
	case <-g.abortC:
		return l.check(ctx)
	case <-g.gone[l.t.rank]:
		return l.check(ctx)
	case <-g.gone[l.peer]:
		return l.check(ctx)
	case <-ctx.Done():
		return l.check(ctx)
	}
	if d := time.Until(m.at); d > 0 {
		tm := time.NewTimer(d)
		defer tm.Stop()
		select {
		case <-tm.C:
		case <-g.abortC:
			return l.check(ctx)
		case <-g.gone[l.t.rank]:
			return l.check(ctx)
		case <-ctx.Done():
			return l.check(ctx)
		}
	}
	if len(m.b) != len(b) {
		return fmt.Errorf("collective: mem: %d bytes from rank %d, expected %d: %w", len(m.b), l.peer, len(b), ErrMismatch)
	}
	copy(b, m.b)
	return nil
}
