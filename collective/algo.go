package collective

import (
	"context"
)

// Allreduce algorithms besides the ring, for messages whose cost is more
// the number of messages and hops than their bytes. The ring takes 2(n-1)
// hops in sequence and sends 2n(n-1) messages of an n-th of the input per
// operation, over all ranks. With two ranks one exchange does it (each sends
// its input to the other: one hop). With more, a k-nomial tree reduces to
// one rank and broadcasts back: 2(n-1) messages of the whole input in all,
// the fewest an allreduce can send, the same bytes as the ring, in 2·log_k n
// hops. Where a message costs mostly per message — QUIC, whose send and
// receive are several goroutine wake-ups and syscalls each — and the ranks
// share cores, messages are what an allreduce's time is made of. Both
// combine the same values in the same order on every rank, run after run.

// Algorithms Config.AllReduceAlgo names.
const (
	AlgoAuto     = ""
	AlgoRing     = "ring"
	AlgoTree     = "tree"
	AlgoDoubling = "doubling"
	AlgoBoard    = "board"
)

// algorithm picks the allreduce algorithm for size bytes over g. Unless
// Config.AllReduceAlgo says otherwise: three or more ranks that all share
// one node over shm take the board (shm_board.go), whose hand-offs are two
// barriers per block (two ranks keep the ring: one hand-off each way, and
// half the board's memory traffic); elsewhere, up to
// Config.SmallAllReduceBytes, the exchange with two ranks and the tree with
// more, and the ring beyond. A forced algorithm that
// cannot run here (doubling without a power of two of ranks, the board off
// shm) falls back to the ring. Every rank of g decides alike.
func (c *Comm) algorithm(g group, size int) string {
	n := g.n()
	if n < 2 || size == 0 {
		return AlgoRing
	}
	onShm := c.shmFor(g) != nil
	algo := c.cfg.AllReduceAlgo
	if algo == AlgoAuto {
		switch {
		case onShm && n > 2:
			algo = AlgoBoard
		case size > c.cfg.SmallAllReduceBytes,
			c.cfg.Transport != "quic" && c.cfg.Transport != "mem" && c.oneHost(g):
			algo = AlgoRing
		case n == 2:
			algo = AlgoDoubling
		default:
			algo = AlgoTree
		}
	}
	switch {
	case algo == AlgoDoubling && n&(n-1) != 0, algo == AlgoBoard && !onShm:
		return AlgoRing
	}
	return algo
}

// doublingAllReduce is recursive doubling, n a power of two: in step k a
// rank swaps its partial result with the rank 2^k away, each holding the
// reduction of an aligned block of 2^k ranks, and both combine the lower
// block's with the upper block's.
func (c *Comm) doublingAllReduce(ctx context.Context, g group, in, buf []byte, red reduceFn) error {
	size := len(buf)
	scratch := c.buf(1, 2*size)
	spare := [2][]byte{scratch[:size], scratch[size:]}
	cur := in[:size]
	for d := 1; d < g.n(); d <<= 1 {
		peer := g.me ^ d
		l, err := c.tr.link(g.ranks[peer])
		if err != nil {
			return err
		}
		got := spare[0]
		if &got[0] == &cur[0] {
			got = spare[1]
		}
		err = c.concurrently(ctx,
			func(ctx context.Context) error { return l.send(ctx, cur) },
			func(ctx context.Context) error { return l.recv(ctx, got) })
		if err != nil {
			return err
		}
		// dst may be a but not b (reduceFn), and never the caller's input.
		if g.me < peer {
			dst := cur
			if &cur[0] == &in[0] {
				dst = buf
			}
			red(dst, cur, got)
			cur = dst
		} else {
			red(got, got, cur)
			cur = got
		}
	}
	if &cur[0] != &buf[0] {
		copy(buf, cur)
	}
	return nil
}

// narrowAll ends a 16-bit exchange, tree or board allreduce: every rank
// holds the whole float32 result, so nf rounds all of it into the output.
func narrowAll(g group, size int, nf narrowFn) {
	if nf == nil {
		return
	}
	whole := make([]span, g.n())
	for i := range whole {
		whole[i] = span{0, size}
	}
	nf(g, whole)
}

// treeAllReduce reduces up a k-nomial tree rooted at g's first rank and
// broadcasts the result back down it, in pieces (treeShape) so that a piece
// goes down while the next comes up. In base k, the root's children are
// j·k^i (j = 1..k-1); another rank's are itself plus those below its lowest
// non-zero digit, and its parent is itself less that digit. A rank folds its
// children's partial results into its own in increasing distance, each
// covering the next block of ranks, so the order of the sum is fixed; every
// rank receives the root's bits.
func (c *Comm) treeAllReduce(ctx context.Context, g group, in, buf []byte, red reduceFn) error {
	radix, piece := c.treeShape(g.n())
	n, me, size := g.n(), g.me, len(buf)
	in = in[:size]
	place := 1 // the place of me's lowest non-zero digit
	for me != 0 && (me/place)%radix == 0 {
		place *= radix
	}
	low := 0
	if me != 0 {
		low = (me / place % radix) * place
	}
	var kids []int
	for m := 1; me+m < n && (me == 0 || m < place); m *= radix {
		for j := 1; j < radix && me+j*m < n; j++ {
			kids = append(kids, me+j*m)
		}
	}
	linkTo := func(i int) (link, error) { return c.tr.link(g.ranks[i]) }
	pieces := (size + piece - 1) / piece
	span := func(k int) (int, int) { return k * piece, min((k+1)*piece, size) }
	ready := make(chan struct{}, pieces) // the root: piece k reduced
	got := c.buf(1, min(piece, size))
	up := func(ctx context.Context) error {
		var parent link
		if me != 0 {
			l, err := linkTo(me - low)
			if err != nil {
				return err
			}
			parent = l
		}
		for k := range pieces {
			lo, hi := span(k)
			acc := in[lo:hi]
			for _, kid := range kids {
				l, err := linkTo(kid)
				if err == nil {
					err = l.recv(ctx, got[:hi-lo])
				}
				if err != nil {
					return err
				}
				red(buf[lo:hi], acc, got[:hi-lo])
				acc = buf[lo:hi]
			}
			if parent != nil {
				if err := parent.send(ctx, acc); err != nil {
					return err
				}
			} else {
				if &acc[0] != &buf[lo] {
					copy(buf[lo:hi], acc)
				}
				ready <- struct{}{}
			}
		}
		return nil
	}
	down := func(ctx context.Context) error {
		for k := range pieces {
			lo, hi := span(k)
			if me == 0 {
				select {
				case <-ready:
				case <-ctx.Done():
					return context.Cause(ctx)
				}
			} else {
				l, err := linkTo(me - low)
				if err == nil {
					err = l.recv(ctx, buf[lo:hi])
				}
				if err != nil {
					return err
				}
			}
			for i := len(kids) - 1; i >= 0; i-- {
				l, err := linkTo(kids[i])
				if err == nil {
					err = l.send(ctx, buf[lo:hi])
				}
				if err != nil {
					return err
				}
			}
		}
		return nil
	}
	if pieces == 1 { // nothing to overlap: no goroutine, no hand-off
		if err := up(ctx); err != nil {
			return err
		}
		return down(ctx)
	}
	return c.concurrently(ctx, up, down)
}

// treeShape is the tree's radix and piece for n ranks. Radix 4 keeps the
// root's fan-in and the depth both small: 2 levels up to 16 ranks, 3 up to
// 64; the root handles 3 messages per level. Pieces of a quarter chunk
// pipeline the two phases from a few hundred KiB on.
func (c *Comm) treeShape(n int) (radix, piece int) {
	radix, piece = c.cfg.treeRadix, c.cfg.treePiece
	if radix == 0 {
		radix = min(n, 4)
	}
	if piece == 0 {
		piece = c.cfg.ChunkBytes / 4
	}
	return radix, piece
}
