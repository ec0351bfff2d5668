package collective

import (
	"context"
	"fmt"
	"sync/atomic"
)

// The ring engine. A schedule is a list of steps; in each a rank sends one
// chunk of its buffer to the next rank of the group and receives one chunk
// from the previous rank (copying it, or reducing it into its own). Chunks
// are cut into pieces of Config.ChunkBytes, and a piece is forwarded as soon
// as it has arrived: the pipeline. Reductions happen in an order fixed by
// the schedule, never by timing, so every run gives the same bits.

// span is a chunk: a byte range of the buffer.
type span struct{ off, n int }

// step says what one ring step does. send or recv -1: none. dep is the step
// whose receive of piece k must finish before this step sends piece k (-1:
// none); it receives the chunk this step sends. fromIn: send from the input
// buffer (the first step of a reduction). A reducing receive combines the
// input's chunk with what arrives and writes the output's: out = in op recv.
type step struct {
	send, recv int
	reduce     bool
	dep        int
	fromIn     bool
}

// chunkSpans cuts count elements of esz bytes into n spans that differ by at
// most one element, the larger ones first.
func chunkSpans(count, n, esz int) []span {
	spans := make([]span, n)
	q, r, off := count/n, count%n, 0
	for i := range spans {
		l := q
		if i < r {
			l++
		}
		spans[i] = span{off * esz, l * esz}
		off += l
	}
	return spans
}

func mod(a, n int) int { return ((a % n) + n) % n }

// rsSteps is ring reduce-scatter: after it, index i holds chunk i reduced.
func rsSteps(i, n int) []step {
	var s []step
	for k := 0; k < n-1; k++ {
		s = append(s, step{send: mod(i-k-1, n), recv: mod(i-k-2, n), reduce: true, dep: k - 1, fromIn: k == 0})
	}
	return s
}

// agSteps is ring all-gather: index i starts with chunk i, ends with all.
// first is the index of the first step in a fused schedule.
func agSteps(i, n, first int) []step {
	var s []step
	for k := 0; k < n-1; k++ {
		s = append(s, step{send: mod(i-k, n), recv: mod(i-k-1, n), dep: first + k - 1})
	}
	return s
}

// arSteps is ring allreduce: reduce-scatter fused with all-gather, so the
// all-gather of a piece starts as soon as the piece is final.
func arSteps(i, n int) []step { return append(rsSteps(i, n), agSteps(i, n, n-1)...) }

// pass runs steps on group g. Chunks are spans of buf, the output; in is
// the input (buf itself in place), read by reducing receives and fromIn
// sends; red reduces.
func (c *Comm) pass(ctx context.Context, g group, in, buf []byte, spans []span, steps []step, red reduceFn) error {
	if g.n() < 2 || len(steps) == 0 {
		return nil
	}
	next, err := c.tr.link(g.next())
	if err != nil {
		return err
	}
	prev, err := c.tr.link(g.prev())
	if err != nil {
		return err
	}
	p := pieceSize(spans, c.cfg.ChunkBytes)
	// The two engines order a link's messages differently (piece-major and
	// step-major), so every rank of the group must pick the same one: the
	// fused engine only when the whole ring is on one node.
	if n, pr, ok := fusedOK(next, prev, p); ok && !c.noFuse && c.oneHost(g) {
		return c.passFused(ctx, n, pr, in, buf, spans, steps, red, p)
	}
	base := make([]int64, len(steps)+1) // received pieces before step t
	for t, st := range steps {
		base[t+1] = base[t]
		if st.recv >= 0 {
			base[t+1] += int64(pieces(spans[st.recv].n, p))
		}
	}
	pr := &progress{wake: make(chan struct{}, 1)}
	return c.concurrently(ctx, func(ctx context.Context) error {
		return c.sendSteps(ctx, next, in, buf, spans, steps, base, pr, p)
	}, func(ctx context.Context) error {
		return c.recvSteps(ctx, prev, in, buf, spans, steps, pr, red, p)
	})
}

func pieces(n, p int) int { return (n + p - 1) / p }

// oneHost reports whether every rank of g is on this rank's node.
func (c *Comm) oneHost(g group) bool {
	for _, r := range g.ranks {
		if c.hosts[r] != c.hosts[c.rank] {
			return false
		}
	}
	return true
}

// pieceSize is the pipeline piece for these chunks: ChunkBytes, but cut so
// that a chunk has at least four pieces (down to 16 KiB), so that small
// messages pipeline too. Every rank computes the same spans, hence the
// same piece.
func pieceSize(spans []span, chunk int) int {
	largest := 0
	for _, sp := range spans {
		largest = max(largest, sp.n)
	}
	p := (largest/4 + 63) &^ 63
	return min(chunk, max(p, 16<<10))
}

// progress counts received pieces; the sender waits on it.
type progress struct {
	done atomic.Int64
	wake chan struct{}
}

func (pr *progress) add() {
	pr.done.Add(1)
	select {
	case pr.wake <- struct{}{}:
	default:
	}
}

func (pr *progress) wait(ctx context.Context, need int64) error {
	for pr.done.Load() < need {
		select {
		case <-pr.wake:
		case <-ctx.Done():
			return ctxErr(ctx)
		}
	}
	return nil
}

func (c *Comm) sendSteps(ctx context.Context, next link, in, buf []byte, spans []span, steps []step, base []int64, pr *progress, p int) error {
	for _, st := range steps {
		if st.send < 0 {
			continue
		}
		sp := spans[st.send]
		if st.dep >= 0 && steps[st.dep].recv != st.send {
			panic(fmt.Sprintf("collective: schedule sends chunk %d after receiving chunk %d", st.send, steps[st.dep].recv))
		}
		for k, off := 0, 0; off < sp.n; k, off = k+1, off+p {
			if st.dep >= 0 {
				if err := pr.wait(ctx, base[st.dep]+int64(k)+1); err != nil {
					return err
				}
			}
			end := min(off+p, sp.n)
			src := buf
			if st.fromIn {
				src = in
			}
			if err := next.send(ctx, src[sp.off+off:sp.off+end]); err != nil {
				return err
			}
		}
	}
	return nil
}

func (c *Comm) recvSteps(ctx context.Context, prev link, in, buf []byte, spans []span, steps []step, pr *progress, red reduceFn, p int) error {
	rr, fast := prev.(recvReducer)
	for _, st := range steps {
		if st.recv < 0 {
			continue
		}
		sp := spans[st.recv]
		for off := 0; off < sp.n; off += p {
			lo, hi := sp.off+off, sp.off+min(off+p, sp.n)
			piece, local := buf[lo:hi], in[lo:hi]
			var err error
			switch {
			case !st.reduce:
				err = prev.recv(ctx, piece)
			case fast:
				err = rr.recvReduce(ctx, len(piece), func(o int, src []byte) {
					red(piece[o:o+len(src)], local[o:o+len(src)], src)
				})
			default:
				tmp := c.buf(1, len(piece))
				if err = prev.recv(ctx, tmp); err == nil {
					red(piece, local, tmp)
				}
			}
			if err != nil {
				return err
			}
			pr.add()
		}
	}
	return nil
}
