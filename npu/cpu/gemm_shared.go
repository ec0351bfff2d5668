package cpu

import (
	"sync"
	"sync/atomic"
)

// A GEMM with enough rows runs its loop nest on all its threads together
// (gemmCall.shared) rather than one part of C per thread:
//
//	for each (jc, pc) step             the steps of part, in order
//	  pack B[pc:pc+KC, jc:jc+NC]       into one of two shared buffers, in
//	                                   groups of panels
//	  for each chunk of rows of C      pack A, run the step's panels (block)
//
// Every pack group and row chunk is an item that any thread claims from one
// counter, in the order they are needed: step s's pack groups, its chunks,
// then step s+1's pack groups. So B is packed once per step however many
// threads run, and a thread the OS slows (these machines run other jobs)
// delays only the items it holds: the others take the rest. An item waits
// for the ones it reads after, all claimed before it: a chunk for its step's
// packing and for the previous step's chunks (which wrote its rows of C), a
// pack group for step s-2's chunks (which read the buffer it overwrites).
// The smallest unfinished item waits for nothing, so the call cannot stall.
//
// Which thread computes a tile changes nothing: each tile of C is the same
// kernel over the same KC blocks, in the same order, as with one thread.

// gemmShared is the schedule of one shared call and what its threads
// synchronise on.
type gemmShared struct {
	steps, ksteps int // (jc, pc) steps; KC steps per NC block
	ncMax, kcMax  int // the NC and KC blocks, as part cuts them
	group         int // panels per pack group
	packs, chunks int // items per step: pack groups (0 when B is read in place), row chunks
	chunk         int // rows per chunk, a multiple of MR
	next          atomic.Int64
	// packed[s] and done[s] count step s's finished pack groups and chunks.
	packed, done []atomic.Int32
	buf          [2][]float32 // step s packs B into buf[s%2]
	scr          []*gemmScratch
	mu           sync.Mutex
	cond         sync.Cond // broadcast when a step's packing or chunks finish
}

// gemmPackGroup is the panels per pack group: the float32 packer copies B
// stored k×n eight panels at a time.
const gemmPackGroup = 8

// shared computes the product on threads threads (>= 2) together.
func (g *gemmCall) shared(p *pool, threads int) {
	sh := &g.sh
	im := g.gemmImpl
	sh.ncMax = roundUp(ceilDiv(g.n, ceilDiv(g.n, g.nc)), g.nr)
	sh.kcMax = ceilDiv(g.k, ceilDiv(g.k, g.kc))
	sh.ksteps = ceilDiv(g.k, sh.kcMax)
	sh.steps = ceilDiv(g.n, sh.ncMax) * sh.ksteps
	sh.group = gemmPackGroup
	sh.packs = 0
	if g.packB {
		sh.packs = ceilDiv(sh.ncMax/g.nr, sh.group)
	}
	// Chunks of at most MC rows, as many as a multiple of the threads, so
	// the last round of claims keeps every thread busy.
	tiles := ceilDiv(g.m, g.mr)
	n := roundUp(ceilDiv(tiles, g.mc/g.mr), threads)
	sh.chunk = ceilDiv(tiles, n) * g.mr
	sh.chunks = ceilDiv(g.m, sh.chunk)
	sh.next.Store(0)
	if cap(sh.packed) < sh.steps {
		sh.packed = make([]atomic.Int32, sh.steps)
		sh.done = make([]atomic.Int32, sh.steps)
	}
	sh.packed, sh.done = sh.packed[:sh.steps], sh.done[:sh.steps]
	for s := range sh.steps {
		sh.packed[s].Store(0)
		sh.done[s].Store(0)
	}
	for range threads {
		sh.scr = append(sh.scr, getScratch(im))
	}
	// Two threads' B scratches are the shared buffers.
	sh.buf = [2][]float32{sh.scr[0].b, sh.scr[1].b}
	p.parallelWorkers(threads, 1, g.sharedFn)
	for i, s := range sh.scr {
		gemmScratchFree.put(s)
		sh.scr[i] = nil
	}
	sh.scr = sh.scr[:0]
	sh.buf = [2][]float32{}
}

// work claims and runs items until none are left; w is the thread's index.
func (g *gemmCall) work(w int) {
	sh := &g.sh
	s := sh.scr[w]
	per := sh.packs + sh.chunks
	for {
		id := int(sh.next.Add(1) - 1)
		step, r := id/per, id%per
		if step >= sh.steps {
			return
		}
		st, panels := g.sharedStep(step)
		if r < sh.packs {
			if step >= 2 {
				sh.wait(&sh.done[step-2], sh.chunks)
			}
			if p0 := r * sh.group; p0 < panels {
				sub := st
				sub.jc += p0 * g.nr
				sub.bp = st.bp[p0*g.nr*st.kd:]
				g.packPanelsB(&sub, s.stage, min(sh.group, panels-p0))
			}
			sh.finish(&sh.packed[step], sh.packs)
			continue
		}
		sh.wait(&sh.packed[step], sh.packs)
		if step >= 1 {
			sh.wait(&sh.done[step-1], sh.chunks)
		}
		i0 := (r - sh.packs) * sh.chunk
		g.block(&st, s, i0, min(i0+sh.chunk, g.m), panels)
		sh.finish(&sh.done[step], sh.chunks)
	}
}

// sharedStep returns step s of the shared nest and its number of panels.
func (g *gemmCall) sharedStep(s int) (gemmStep, int) {
	sh := &g.sh
	jc, pc := s/sh.ksteps*sh.ncMax, s%sh.ksteps*sh.kcMax
	st := gemmStep{pc: pc, kc: min(sh.kcMax, g.k-pc), jc: jc, beta: g.beta}
	if pc > 0 {
		st.beta = 1
	}
	st.kd = st.kc
	if g.pairs {
		st.kd = ceilDiv(st.kc, 2)
	}
	panels := ceilDiv(min(sh.ncMax, g.n-jc), g.nr)
	if g.packB {
		st.bp = sh.buf[s%2][:panels*g.nr*st.kd]
	}
	return st, panels
}

// wait returns once c has reached n.
func (sh *gemmShared) wait(c *atomic.Int32, n int) {
	if int(c.Load()) >= n {
		return
	}
	sh.mu.Lock()
	for int(c.Load()) < n {
		sh.cond.Wait()
	}
	sh.mu.Unlock()
}

// finish counts one item done in c and wakes the waiters when it was the
// last of n.
func (sh *gemmShared) finish(c *atomic.Int32, n int) {
	if int(c.Add(1)) == n {
		sh.mu.Lock()
		sh.cond.Broadcast()
		sh.mu.Unlock()
	}
}
