package collective

import (
	"context"
	"math/bits"
)

// Small-message allreduce. The ring takes 2(n-1) hops in sequence; at a few
// KiB an allreduce's time is hops times a hop's latency (and, on QUIC, a
// message's CPU), not bytes. With a power of two of ranks, recursive
// doubling takes log2 n hops; otherwise one-shot takes one: every rank sends
// its input to every other. Both send more bytes than the ring (log2 n and
// n/2 times), hence Config.SmallAllReduceBytes. Both combine the same values
// in the same order on every rank, so every rank gets the same bits, run
// after run.

// smallFn is a small-message allreduce of in into buf (len(buf) bytes; in
// may be buf) over g. It keeps no slice.
type smallFn func(ctx context.Context, g group, in, buf []byte, red reduceFn) error

// smallAllReduce returns the algorithm for size bytes over g, or nil for
// the ring: recursive doubling when g has a power of two of ranks, else
// one-shot, when the bytes a rank sends are at most
// Config.SmallAllReduceBytes — but never through shared memory alone, where
// a hop costs about a microsecond and the fused ring, one goroutine, beats
// a goroutine's start and hand-off per step (4–8× at 1–64 KiB, N=2). Every
// rank of g decides alike.
func (c *Comm) smallAllReduce(g group, size int) smallFn {
	n := g.n()
	if n < 2 || size == 0 || c.cfg.Transport != "quic" && c.cfg.Transport != "mem" && c.oneHost(g) {
		return nil
	}
	if n&(n-1) == 0 {
		if (bits.Len(uint(n))-1)*size <= c.cfg.SmallAllReduceBytes {
			return c.doublingAllReduce
		}
		return nil
	}
	if (n-1)*size <= c.cfg.SmallAllReduceBytes {
		return c.oneShotAllReduce
	}
	return nil
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

// oneShotAllReduce: every rank sends its input to every other and reduces
// the n inputs in rank order.
func (c *Comm) oneShotAllReduce(ctx context.Context, g group, in, buf []byte, red reduceFn) error {
	n, size := g.n(), len(buf)
	in = in[:size]
	inputs := c.buf(1, n*size) // (n, size): the peers' inputs by index in g
	input := func(i int) []byte { return inputs[i*size : (i+1)*size] }
	if &in[0] == &buf[0] && g.me > 0 { // in place: the reduction would overwrite in before reading it
		copy(input(g.me), in)
		in = input(g.me)
	}
	// The d-th send goes to the rank d places on and the d-th receive comes
	// from the rank d places back, so each send meets its receive even on
	// links that hand a message over only to a waiting receiver.
	err := c.concurrently(ctx, func(ctx context.Context) error {
		for d := 1; d < n; d++ {
			l, err := c.tr.link(g.ranks[(g.me+d)%n])
			if err == nil {
				err = l.send(ctx, in)
			}
			if err != nil {
				return err
			}
		}
		return nil
	}, func(ctx context.Context) error {
		for d := 1; d < n; d++ {
			from := (g.me - d + n) % n
			l, err := c.tr.link(g.ranks[from])
			if err == nil {
				err = l.recv(ctx, input(from))
			}
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	src := func(i int) []byte {
		if i == g.me {
			return in
		}
		return input(i)
	}
	red(buf, src(0), src(1))
	for i := 2; i < n; i++ {
		red(buf, buf, src(i))
	}
	return nil
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

// narrowAll ends a small 16-bit allreduce: every rank holds the whole
// float32 result, so nf rounds all of it into the output.
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
