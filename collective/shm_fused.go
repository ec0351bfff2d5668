package collective

import (
	"context"
	"encoding/binary"
	"fmt"
)

// The fused shm path. With the two-goroutine engine a hop costs two copies:
// the receiver reduces the incoming bytes into its buffer, then the sender
// copies them into the next rank's ring. Here one goroutine takes each
// piece through every step of the schedule, and a received piece that the
// schedule sends on is reduced (or copied) straight from the incoming ring
// into the outgoing ring — NCCL's recvReduceSend — and into the buffer only
// where the result is needed there. Each ring must hold two pieces: then a
// full ring means its reader is behind its writer, which cannot hold all
// the way around the ring, so the loop cannot deadlock.

// fusedOK reports whether pass can take the fused path on these links.
func fusedOK(next, prev link, piece int) (*shmLink, *shmLink, bool) {
	n, ok1 := next.(*shmLink)
	p, ok2 := prev.(*shmLink)
	if !ok1 || !ok2 {
		return nil, nil, false
	}
	need := uint64(2 * (piece + 2*shmMsgAlign))
	return n, p, n.mask+1 >= need && p.mask+1 >= need
}

// passFused runs the schedule piece by piece: for piece k, every step in
// order. Each rank sends and receives the messages of a link in the same
// (piece, step) order as the two-goroutine engine's peers would.
func (c *Comm) passFused(ctx context.Context, next, prev *shmLink, in, buf []byte, spans []span, steps []step, red reduceFn, p int) error {
	fwd := make([]int, len(steps)) // the step that sends on what step t receives
	for t := range fwd {
		fwd[t] = -1
	}
	for u, st := range steps {
		if st.dep >= 0 && st.send >= 0 {
			fwd[st.dep] = u
		}
	}
	maxPieces := 0
	for _, sp := range spans {
		maxPieces = max(maxPieces, pieces(sp.n, p))
	}
	for k := 0; k < maxPieces; k++ {
		for t, st := range steps {
			if st.send >= 0 && st.dep < 0 {
				lo, hi, ok := pieceOf(spans[st.send], k, p)
				if ok {
					src := buf
					if st.fromIn {
						src = in
					}
					if err := next.send(ctx, src[lo:hi]); err != nil {
						return err
					}
				}
			}
			if st.recv < 0 {
				continue
			}
			lo, hi, ok := pieceOf(spans[st.recv], k, p)
			if !ok {
				continue
			}
			if err := c.fusedRecv(ctx, next, prev, in[lo:hi], buf[lo:hi], steps, t, fwd[t], red); err != nil {
				return err
			}
		}
	}
	return nil
}

// pieceOf is piece k of sp as a byte range, if sp has a piece k.
func pieceOf(sp span, k, p int) (lo, hi int, ok bool) {
	off := k * p
	if off >= sp.n {
		return 0, 0, false
	}
	return sp.off + off, sp.off + min(off+p, sp.n), true
}

// fusedRecv receives step t's piece into piece (reducing with local when the
// step reduces) and, when step u sends it on, writes the same result into
// next's ring.
func (c *Comm) fusedRecv(ctx context.Context, next, prev *shmLink, local, piece []byte, steps []step, t, u int, red reduceFn) error {
	st := steps[t]
	if u < 0 {
		if !st.reduce {
			return prev.recv(ctx, piece)
		}
		return prev.recvReduce(ctx, len(piece), func(o int, src []byte) {
			red(piece[o:o+len(src)], local[o:o+len(src)], src)
		})
	}
	// The buffer needs a copied piece (it is output) and a reduced piece
	// unless the next rank reduces it further (an intermediate partial sum).
	keep := !st.reduce || !steps[u].reduce
	return forward(ctx, prev, next, len(piece), func(o int, src, dst []byte) {
		n := len(src)
		switch {
		case st.reduce && keep:
			red(piece[o:o+n], local[o:o+n], src)
			copy(dst, piece[o:o+n])
		case st.reduce:
			red(dst, local[o:o+n], src)
		default:
			copy(piece[o:o+n], src)
			copy(dst, src)
		}
	})
}

// forward moves the next n-byte message from prev's ring into next's ring
// through f(off, src, dst), len(src) == len(dst), in parts that are
// multiples of 8 bytes but for the last.
func forward(ctx context.Context, prev, next *shmLink, n int, f func(off int, src, dst []byte)) error {
	size := prev.mask + 1
	inHead, inTail := word64(prev.in, shmHeadOff), word64(prev.in, shmTailOff)
	outHead, outTail := word64(next.out, shmHeadOff), word64(next.out, shmTailOff)
	inRing, outRing := prev.in[shmRingOff:], next.out[shmRingOff:]
	w := waiter{}
	for inHead.Load() < prev.tail+shmMsgAlign { // see recvReduce
		if err := prev.waitIn(ctx, &w, inHead); err != nil {
			return err
		}
	}
	raceAcquire() // race.go, as in send and recvReduce
	if got := binary.LittleEndian.Uint64(inRing[prev.tail&prev.mask:]); got != uint64(n) {
		return fmt.Errorf("collective: shm: %d bytes from rank %d, expected %d: %w", got, prev.peer, n, ErrMismatch)
	}
	prev.tail += shmMsgAlign
	for size-(next.head-outTail.Load()) < shmMsgAlign {
		if err := next.wait(ctx, &w); err != nil {
			return err
		}
	}
	raceAcquire()
	binary.LittleEndian.PutUint64(outRing[next.head&next.mask:], uint64(n))
	next.head += shmMsgAlign
	raceRelease()
	outHead.Store(next.head)
	for off := 0; off < n; {
		avail := inHead.Load() - prev.tail
		free := size - (next.head - outTail.Load())
		raceAcquire()
		if avail == 0 {
			if err := prev.waitIn(ctx, &w, inHead); err != nil {
				return err
			}
			continue
		}
		if free == 0 {
			if err := next.wait(ctx, &w); err != nil {
				return err
			}
			continue
		}
		w = waiter{}
		ip, op := prev.tail&prev.mask, next.head&next.mask
		left := uint64(n - off)
		m := min(avail, free, left, size-ip, size-op)
		if m < left {
			m &^= 7
			if m == 0 {
				continue
			}
		}
		f(off, inRing[ip:ip+m], outRing[op:op+m])
		prev.tail += m
		next.head += m
		off += int(m)
		raceRelease()
		inTail.Store(prev.tail)
		outHead.Store(next.head)
	}
	prev.tail = align64(prev.tail)
	next.head = align64(next.head)
	raceRelease()
	inTail.Store(prev.tail)
	outHead.Store(next.head)
	return nil
}
