package cpu

import (
	"runtime"
	"sync"
)

// pool runs loops over a fixed number of threads. The zero value is not
// usable; make one with newPool.
//
// How a loop is split depends on the thread count, so a kernel must never
// let the split decide the order of a floating-point sum: each output value
// is computed by one goroutine in an order fixed by the sizes alone.
type pool struct {
	threads int
}

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
	parts := p.parts(n, grain)
	if parts <= 1 {
		if n > 0 {
			f(0, n)
		}
		return
	}
	var wg sync.WaitGroup
	wg.Add(parts - 1)
	for i := 1; i < parts; i++ {
		lo, hi := i*n/parts, (i+1)*n/parts
		go func() {
			defer wg.Done()
			f(lo, hi)
		}()
	}
	f(0, n/parts)
	wg.Wait()
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
	var wg sync.WaitGroup
	wg.Add(parts - 1)
	for i := 1; i < parts; i++ {
		lo, hi := i*n/parts, (i+1)*n/parts
		go func() {
			defer wg.Done()
			f(i, lo, hi)
		}()
	}
	f(0, 0, n/parts)
	wg.Wait()
}
