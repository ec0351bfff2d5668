package cpu

import (
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// pool runs loops over a fixed number of threads. The zero value is not
// usable; make one with newPool.
//
// How a loop is split depends on the thread count, so a kernel must never
// let the split decide the order of a floating-point sum: each output value
// is computed by one goroutine in an order fixed by the sizes alone.
//
// The caller runs a loop's first part; helper goroutines run the others. A
// helper whose part is done spins for spinFor, waiting for a part of the
// next loop, and then exits: a decoding step runs dozens of loops of a few
// microseconds back to back, and handing a part to a spinning helper costs
// well under a microsecond, where starting a goroutine on an idle thread
// costs several (the runtime must wake a sleeping OS thread). The caller
// likewise spins for its helpers before it blocks.
type pool struct {
	threads int
	mu      sync.Mutex
	idle    []*helper // helpers spinning for a part
}

// spinFor is how long a helper waits for the next loop's part, and the
// caller for its helpers, before blocking: longer than the gaps between a
// step's loops, short enough that an idle pool leaves the cores at once.
const spinFor = 50 * time.Microsecond

func newPool(threads int) *pool {
	if threads <= 0 {
		threads = runtime.GOMAXPROCS(0)
	}
	return &pool{threads: threads}
}

// serialPool runs everything on the calling goroutine: for a GEMM inside a
// task that is already one of many running in parallel.
var serialPool = &pool{threads: 1}

// parts returns how many goroutines a loop of n items with the given grain
// runs on.
func (p *pool) parts(n, grain int) int {
	return min(p.threads, (n+max(grain, 1)-1)/max(grain, 1))
}

// parallelFor calls f on disjoint ranges [lo,hi) that cover [0,n), on at most
// p.threads goroutines, and returns when all calls are done. Ranges hold at
// least grain items, so small loops run on the calling goroutine alone.
func (p *pool) parallelFor(n, grain int, f func(lo, hi int)) {
	if p.parts(n, grain) <= 1 { // without the wrapper, which escapes
		if n > 0 {
			f(0, n)
		}
		return
	}
	p.parallelWorkers(n, grain, func(_, lo, hi int) { f(lo, hi) })
}

// parallelWorkers is parallelFor that also tells f which of the
// p.threads workers it is (0 ≤ w < p.threads), so that each can use its own
// scratch memory.
func (p *pool) parallelWorkers(n, grain int, f func(w, lo, hi int)) {
	parts := p.parts(n, grain)
	if parts <= 1 {
		if n > 0 {
			f(0, 0, n)
		}
		return
	}
	l := &loop{f: f, n: n, parts: parts}
	l.pending.Store(int32(parts - 1))
	l.wg.Add(parts - 1)
	for i := 1; i < parts; i++ {
		p.hand(l, i)
	}
	l.run(0)
	if !spinUntil(func() bool { return l.pending.Load() == 0 }) {
		l.wg.Wait()
	}
}

// loop is one parallelWorkers call in flight.
type loop struct {
	f        func(w, lo, hi int)
	n, parts int
	pending  atomic.Int32 // helpers' parts not yet done
	wg       sync.WaitGroup
}

// run runs part i of l.
func (l *loop) run(i int) {
	l.f(i, i*l.n/l.parts, (i+1)*l.n/l.parts)
}

// helper is a goroutine that runs loop parts. part is written before the
// loop is stored in next, and read after it is loaded.
type helper struct {
	next atomic.Pointer[loop]
	part int
}

// hand gives part i of l to a spinning helper, or to a new one.
func (p *pool) hand(l *loop, i int) {
	p.mu.Lock()
	if k := len(p.idle) - 1; k >= 0 {
		h := p.idle[k]
		p.idle = p.idle[:k]
		h.part = i
		h.next.Store(l)
		p.mu.Unlock()
		return
	}
	p.mu.Unlock()
	go p.serve(&helper{}, l, i)
}

// serve runs part i of l, then the parts handed to h while it spins.
func (p *pool) serve(h *helper, l *loop, i int) {
	for l != nil {
		l.run(i)
		l.wg.Done()
		l.pending.Add(-1)
		l, i = p.await(h)
	}
}

// await spins for a part handed to h and returns it, or nil once spinFor
// has passed without one (h is then no longer idle).
func (p *pool) await(h *helper) (*loop, int) {
	p.mu.Lock()
	p.idle = append(p.idle, h)
	p.mu.Unlock()
	if spinUntil(func() bool { return h.next.Load() != nil }) {
		return h.take()
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if k := slices.Index(p.idle, h); k >= 0 {
		p.idle = slices.Delete(p.idle, k, k+1)
		return nil, 0
	}
	return h.take() // handed a part meanwhile: hand stores it under p.mu
}

func (h *helper) take() (*loop, int) {
	l := h.next.Swap(nil)
	return l, h.part
}

// spinUntil polls done for up to spinFor, yielding now and then so that
// other goroutines of the process are not kept waiting, and reports
// whether it became true.
func spinUntil(done func() bool) bool {
	start := time.Now()
	for n := 1; ; n++ {
		if done() {
			return true
		}
		if n%256 == 0 {
			if time.Since(start) > spinFor {
				return done()
			}
			runtime.Gosched()
		}
	}
}
