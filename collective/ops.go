package collective

import (
	"context"
	"fmt"
)

// The operations, with HCCL's arguments: counts in elements, buffers as raw
// bytes aligned to the element size. No operation keeps a slice after it
// returns. sendBuf and recvBuf may be the same slice where HCCL allows it
// (AllReduce, Reduce).

func checkArgs(dt DataType, count int, bufs ...[]byte) (esz int, err error) {
	if !dt.Valid() {
		return 0, fmt.Errorf("collective: unsupported data type %d (want HCCL's 0..11)", int32(dt))
	}
	if count < 0 {
		return 0, fmt.Errorf("collective: negative count %d", count)
	}
	esz = dt.Size()
	for _, b := range bufs {
		if len(b) < count*esz {
			return 0, fmt.Errorf("collective: buffer of %d bytes is too small for %d %s elements", len(b), count, dt)
		}
	}
	return esz, nil
}

func checkOp(op ReduceOp) error {
	if !op.Valid() {
		return fmt.Errorf("collective: unsupported reduce op %d (want HCCL's 0..3)", int32(op))
	}
	return nil
}

func checkRank(r, size int, what string) error {
	if r < 0 || r >= size {
		return fmt.Errorf("collective: %s %d is outside 0..%d", what, r, size-1)
	}
	return nil
}

// AllReduce reduces count elements of sendBuf over all ranks into recvBuf on
// every rank. Every rank gets the same bits. 16-bit floats are summed in
// float32 and rounded once.
func (c *Comm) AllReduce(ctx context.Context, sendBuf, recvBuf []byte, count int, dt DataType, op ReduceOp) error {
	esz, err := checkArgs(dt, count, sendBuf, recvBuf)
	if err == nil {
		err = checkOp(op)
	}
	if err != nil {
		return err
	}
	n := count * esz
	return c.run(ctx, "allreduce", func(ctx context.Context) error {
		send, recv := sendBuf[:n], recvBuf[:n]
		wt := dt.workType()
		red := reducer(wt, op)
		if c.size == 1 {
			copy(recv, send)
			return nil
		}
		if wt == dt { // no copy: the first reduction reads send
			return c.allReduce(ctx, send, recv, count, esz, red, nil)
		}
		work := c.buf(0, count*4)
		widen(dt, work, send)
		return c.allReduce(ctx, work, work, count, 4, red, func(g group, sp []span) ([]byte, []span) {
			for i := range sp {
				sp[i] = span{sp[i].off / 2, sp[i].n / 2}
			}
			mine := sp[g.me]
			narrow(dt, recv[mine.off:mine.off+mine.n], work[mine.off*2:mine.off*2+mine.n*2])
			return recv, sp
		})
	})
}

// narrowFn, when set, ends the reduction phase of a 16-bit allreduce: it
// rounds this rank's final chunk into the output and returns the buffer and
// spans the all-gather phase runs on.
type narrowFn func(g group, spans []span) ([]byte, []span)

// allReduce reduces in into buf (which may be in): flat ring or two levels.
func (c *Comm) allReduce(ctx context.Context, in, buf []byte, count, esz int, red reduceFn, nf narrowFn) error {
	if !c.hier {
		return c.groupAllReduce(ctx, c.flat, in, buf, count, esz, red, nf)
	}
	// Up to a board's block, each rank's share goes across nodes between the
	// board's phases; beyond, one inter-node allreduce per block would give
	// up the ring's pipelining across nodes.
	if count*esz <= boardBlock(c.cfg) && c.algorithm(c.intra, count*esz) == AlgoBoard {
		err := c.boardAllReduce(ctx, c.shmFor(c.intra), c.intra, in, buf, count, esz, red, func(share []byte) error {
			return c.groupAllReduce(ctx, c.inter, share, share, len(share)/esz, esz, red, nil)
		})
		if err == nil {
			narrowAll(c.flat, count*esz, nf)
		}
		return err
	}
	spans := chunkSpans(count, c.intra.n(), esz)
	if err := c.pass(ctx, c.intra, in, buf, spans, rsSteps(c.intra.me, c.intra.n()), red); err != nil {
		return err
	}
	mine := spans[c.intra.me]
	var sub narrowFn
	out := buf
	if nf != nil {
		sub = func(g group, sp []span) ([]byte, []span) { // shift into the output's coordinates
			for i := range sp {
				sp[i].off += mine.off
			}
			b, sp2 := nf(g, sp)
			for i := range sp2 {
				sp2[i].off -= mine.off / 2
			}
			out = b
			return b[mine.off/2 : mine.off/2+mine.n/2], sp2
		}
	}
	part := buf[mine.off : mine.off+mine.n]
	if err := c.groupAllReduce(ctx, c.inter, part, part, mine.n/esz, esz, red, sub); err != nil {
		return err
	}
	if nf != nil {
		for i := range spans {
			spans[i] = span{spans[i].off / 2, spans[i].n / 2}
		}
	}
	return c.pass(ctx, c.intra, out, out, spans, agSteps(c.intra.me, c.intra.n(), 0), nil)
}

// groupAllReduce reduces in into buf over g with the algorithm it picks.
func (c *Comm) groupAllReduce(ctx context.Context, g group, in, buf []byte, count, esz int, red reduceFn, nf narrowFn) error {
	n := g.n()
	if n == 1 {
		copy(buf, in)
		return nil
	}
	size := count * esz
	var err error
	switch c.algorithm(g, size) {
	case AlgoTree:
		err = c.treeAllReduce(ctx, g, in, buf[:size], red)
	case AlgoDoubling:
		err = c.doublingAllReduce(ctx, g, in, buf[:size], red)
	case AlgoBoard:
		err = c.boardAllReduce(ctx, c.shmFor(g), g, in, buf, count, esz, red, nil)
	default:
		return c.ringSchedule(ctx, g, in, buf, count, esz, red, nf)
	}
	if err == nil {
		narrowAll(g, size, nf)
	}
	return err
}

// ringSchedule is the ring itself: reduce-scatter then all-gather.
func (c *Comm) ringSchedule(ctx context.Context, g group, in, buf []byte, count, esz int, red reduceFn, nf narrowFn) error {
	n := g.n()
	spans := chunkSpans(count, n, esz)
	if nf == nil {
		return c.pass(ctx, g, in, buf, spans, arSteps(g.me, n), red)
	}
	if err := c.pass(ctx, g, in, buf, spans, rsSteps(g.me, n), red); err != nil {
		return err
	}
	out, sp := nf(g, spans)
	return c.pass(ctx, g, out, out, sp, agSteps(g.me, n, 0), nil)
}

// ReduceScatter reduces sendBuf (recvCount·Size() elements) over all ranks
// and leaves block Rank() of the result, recvCount elements, in recvBuf.
func (c *Comm) ReduceScatter(ctx context.Context, sendBuf, recvBuf []byte, recvCount int, dt DataType, op ReduceOp) error {
	esz, err := checkArgs(dt, recvCount, recvBuf)
	if err == nil {
		_, err = checkArgs(dt, recvCount*c.size, sendBuf)
	}
	if err == nil {
		err = checkOp(op)
	}
	if err != nil {
		return err
	}
	return c.run(ctx, "reducescatter", func(ctx context.Context) error {
		total := recvCount * c.size
		wt := dt.workType()
		wsz := wt.Size()
		work := c.buf(0, total*wsz)
		in := sendBuf[:total*esz]
		if wt != dt {
			widen(dt, work, in)
			in = work
		}
		if c.size == 1 {
			copy(work, in)
		}
		spans := chunkSpans(total, c.size, wsz)
		if err := c.pass(ctx, c.flat, in, work, spans, rsSteps(c.rank, c.size), reducer(wt, op)); err != nil {
			return err
		}
		mine := work[spans[c.rank].off : spans[c.rank].off+spans[c.rank].n]
		if wt == dt {
			copy(recvBuf, mine)
		} else {
			narrow(dt, recvBuf[:recvCount*esz], mine)
		}
		return nil
	})
}

// AllGather concatenates every rank's sendCount elements, in rank order,
// into recvBuf (sendCount·Size() elements) on every rank.
func (c *Comm) AllGather(ctx context.Context, sendBuf, recvBuf []byte, sendCount int, dt DataType) error {
	esz, err := checkArgs(dt, sendCount, sendBuf)
	if err == nil {
		_, err = checkArgs(dt, sendCount*c.size, recvBuf)
	}
	if err != nil {
		return err
	}
	return c.run(ctx, "allgather", func(ctx context.Context) error {
		n := sendCount * esz
		copy(recvBuf[c.rank*n:(c.rank+1)*n], sendBuf[:n])
		spans := chunkSpans(sendCount*c.size, c.size, esz)
		return c.pass(ctx, c.flat, recvBuf, recvBuf, spans, agSteps(c.rank, c.size, 0), nil)
	})
}

// Broadcast copies root's count elements of buf into buf on every rank,
// pipelined along the ring.
func (c *Comm) Broadcast(ctx context.Context, buf []byte, count int, dt DataType, root int) error {
	esz, err := checkArgs(dt, count, buf)
	if err == nil {
		err = checkRank(root, c.size, "root")
	}
	if err != nil {
		return err
	}
	return c.run(ctx, "broadcast", func(ctx context.Context) error {
		spans := []span{{0, count * esz}}
		return c.pass(ctx, c.flat, buf, buf, spans, chainSteps(mod(c.rank-root, c.size), c.size, false), nil)
	})
}

// chainSteps is a pipelined chain along the ring from position 0 to n-1:
// position 0 only sends, n-1 only receives, the others receive a piece
// (reducing it into their own when reduce) and pass it on.
func chainSteps(pos, n int, reduce bool) []step {
	switch pos {
	case 0:
		return []step{{send: 0, recv: -1, dep: -1, fromIn: true}}
	case n - 1:
		return []step{{send: -1, recv: 0, reduce: reduce, dep: -1}}
	}
	return []step{{send: 0, recv: 0, reduce: reduce, dep: 0}}
}

// Reduce reduces count elements of sendBuf over all ranks into recvBuf on
// root (recvBuf is untouched elsewhere), along a pipelined chain that ends
// at root.
func (c *Comm) Reduce(ctx context.Context, sendBuf, recvBuf []byte, count int, dt DataType, op ReduceOp, root int) error {
	esz, err := checkArgs(dt, count, sendBuf)
	if err == nil {
		err = checkOp(op)
	}
	if err == nil {
		err = checkRank(root, c.size, "root")
	}
	if err == nil && c.rank == root {
		_, err = checkArgs(dt, count, recvBuf)
	}
	if err != nil {
		return err
	}
	return c.run(ctx, "reduce", func(ctx context.Context) error {
		wt := dt.workType()
		work := c.buf(0, count*wt.Size())
		in := sendBuf[:count*esz]
		if wt != dt {
			widen(dt, work, in)
			in = work
		}
		if c.size == 1 {
			copy(work, in)
		}
		spans := []span{{0, len(work)}}
		steps := chainSteps(mod(c.rank-root-1, c.size), c.size, true)
		if err := c.pass(ctx, c.flat, in, work, spans, steps, reducer(wt, op)); err != nil {
			return err
		}
		if c.rank == root {
			if wt == dt {
				copy(recvBuf, work)
			} else {
				narrow(dt, recvBuf[:count*esz], work)
			}
		}
		return nil
	})
}

// Send sends count elements of buf to peer, which must call Recv with the
// same count and type. It returns once buf may be reused.
func (c *Comm) Send(ctx context.Context, buf []byte, count int, dt DataType, peer int) error {
	esz, err := checkArgs(dt, count, buf)
	if err == nil {
		err = checkRank(peer, c.size, "peer")
	}
	if err == nil && peer == c.rank {
		err = fmt.Errorf("collective: send to self (rank %d)", peer)
	}
	if err != nil || count == 0 {
		return err
	}
	return c.run(ctx, "send", func(ctx context.Context) error {
		l, err := c.tr.link(peer)
		if err != nil {
			return err
		}
		return l.send(ctx, buf[:count*esz])
	})
}

// Recv receives count elements from peer's matching Send into buf.
func (c *Comm) Recv(ctx context.Context, buf []byte, count int, dt DataType, peer int) error {
	esz, err := checkArgs(dt, count, buf)
	if err == nil {
		err = checkRank(peer, c.size, "peer")
	}
	if err == nil && peer == c.rank {
		err = fmt.Errorf("collective: recv from self (rank %d)", peer)
	}
	if err != nil || count == 0 {
		return err
	}
	return c.run(ctx, "recv", func(ctx context.Context) error {
		l, err := c.tr.link(peer)
		if err != nil {
			return err
		}
		return l.recv(ctx, buf[:count*esz])
	})
}

// Barrier returns once every rank has entered it.
func (c *Comm) Barrier(ctx context.Context) error {
	return c.run(ctx, "barrier", func(ctx context.Context) error {
		b := c.buf(0, c.size)
		clear(b)
		return c.groupAllReduce(ctx, c.flat, b, b, c.size, 1, reducer(Uint8, Max), nil)
	})
}

// SendRecv sends count elements of sendBuf to sendPeer while receiving count
// elements from recvPeer into recvBuf (HCCL's BatchSendRecv with one send and
// one recv): a ring of SendRecv calls cannot deadlock.
func (c *Comm) SendRecv(ctx context.Context, sendBuf []byte, sendPeer int, recvBuf []byte, recvPeer int, count int, dt DataType) error {
	esz, err := checkArgs(dt, count, sendBuf, recvBuf)
	if err == nil {
		err = checkRank(sendPeer, c.size, "send peer")
	}
	if err == nil {
		err = checkRank(recvPeer, c.size, "recv peer")
	}
	if err == nil && (sendPeer == c.rank || recvPeer == c.rank) {
		err = fmt.Errorf("collective: sendrecv with self (rank %d)", c.rank)
	}
	if err != nil || count == 0 {
		return err
	}
	return c.run(ctx, "sendrecv", func(ctx context.Context) error {
		out, err := c.tr.link(sendPeer)
		if err != nil {
			return err
		}
		in, err := c.tr.link(recvPeer)
		if err != nil {
			return err
		}
		n, p := count*esz, c.cfg.ChunkBytes
		return c.concurrently(ctx, func(ctx context.Context) error {
			for off := 0; off < n; off += p {
				if err := out.send(ctx, sendBuf[off:min(off+p, n)]); err != nil {
					return err
				}
			}
			return nil
		}, func(ctx context.Context) error {
			for off := 0; off < n; off += p {
				if err := in.recv(ctx, recvBuf[off:min(off+p, n)]); err != nil {
					return err
				}
			}
			return nil
		})
	})
}
