package collective

import (
	"context"
	"fmt"
)

// The board: allreduce for ranks that all share one node, through one
// shared file instead of the ring. Each block of the input goes through
// three phases: every rank copies its block into its own slot; once all
// have, each reduces its n-th of the block over the n slots, in rank order,
// into a shared result; once all have, each copies the whole result out.
// Two barriers per block, where the ring makes 2(n-1) hand-offs from one
// rank to the next, each of which must wait for that one rank to run: with
// more ranks than cores (8 on 2 here) a hand-off is a trip through the
// scheduler, and the ring's chain of them was most of an operation's time
// at 1 MiB (0.66× Open MPI at N=8). Every element is summed in rank order
// by one rank and copied by all, so every rank gets the same bits, run
// after run. The board has two sides, used by alternate blocks, so a rank
// may stage the next block while slower ones still copy the last result
// out.
//
// Layout of the board file (one per node and communicator): at 64·(3i+k)
// rank i's (its index in the group) phase words, k = 0 staged, 1 reduced,
// 2 done: the sequence number of the last block it went through that phase
// with; from the next 4 KiB the two sides, each n slots and the result,
// boardBlock bytes apiece.
//
// Two levels (ranks on several nodes, three or more on each): a message of
// one block at most goes through the board with each rank's reduced share
// allreduced across nodes between the phases.

const (
	boardStaged = iota
	boardReduced
	boardDone
)

// board is the mapped board file of an shm transport.
type board struct {
	m     []byte
	n     int
	block int
	data  int // offset of the sides
	seq   uint64
}

// shmFor returns the shm transport that links every rank of g, or nil:
// the shm transport, or a hybrid one's when g is on this node alone.
func (c *Comm) shmFor(g group) *shmTransport {
	switch tr := c.tr.(type) {
	case *shmTransport:
		return tr
	case *hybrid:
		if c.oneHost(g) {
			return tr.shm
		}
	}
	return nil
}

// boardFor maps (creating) the board for a group of n ranks. Only one
// group of a communicator is ever on one node alone.
func (t *shmTransport) boardFor(n int) (*board, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.board != nil {
		if t.board.n != n {
			return nil, fmt.Errorf("collective: shm: a board for %d ranks, asked for %d", t.board.n, n)
		}
		return t.board, nil
	}
	if t.closed {
		return nil, fmt.Errorf("collective: shm: %w", ErrClosed)
	}
	block := boardBlock(t.cfg)
	data := (64*3*n + 4095) &^ 4095
	// Named by the node's first rank: nodes that share a tmpfs (tests; nodes
	// simulated on one machine) keep their boards apart.
	name := fmt.Sprintf("%s.board-%d", t.prefix, t.members[0])
	m, err := mapFile(name, data+2*(n+1)*block)
	if err != nil {
		return nil, err
	}
	t.files, t.maps = append(t.files, name), append(t.maps, m)
	t.board = &board{m: m, n: n, block: block, data: data}
	return t.board, nil
}

// boardBlock is the bytes of a slot: a block of the input.
func boardBlock(cfg Config) int { return cfg.ShmRingBytes / 4 }

// area is slot i of a side, or the side's result for i == n.
func (b *board) area(side uint64, i int) []byte {
	off := b.data + (int(side)*(b.n+1)+i)*b.block
	return b.m[off : off+b.block]
}

func (b *board) mark(i, phase int, seq uint64) {
	raceRelease() // race.go
	word64(b.m, 64*(3*i+phase)).Store(seq)
}

// waitAll waits until every rank of g has gone through phase with seq.
func (t *shmTransport) waitAll(ctx context.Context, b *board, g group, phase int, seq uint64) error {
	for i, r := range g.ranks {
		w := waiter{}
		for word64(b.m, 64*(3*i+phase)).Load() < seq {
			if err := t.waitPeer(ctx, &w, r); err != nil {
				return err
			}
		}
	}
	raceAcquire() // race.go
	return nil
}

// boardAllReduce reduces in into buf (which may be in) over g, every rank
// of which is on this node; esz aligns the ranks' shares of a block. With
// across set (two levels: g is this node's ranks), each rank hands its
// reduced share of a block to across, which allreduces it in place with
// the same share on the other nodes, before the node copies the block out.
func (c *Comm) boardAllReduce(ctx context.Context, t *shmTransport, g group, in, buf []byte, count, esz int, red reduceFn, across func(share []byte) error) error {
	b, err := t.boardFor(g.n())
	if err != nil {
		return err
	}
	n, size := g.n(), count*esz
	per := b.block / esz // elements per block
	for off := 0; off < size; off += per * esz {
		hi := min(off+per*esz, size)
		b.seq++
		seq, side := b.seq, b.seq&1
		if seq > 2 { // the side's last block: every rank has copied its result out
			if err := t.waitAll(ctx, b, g, boardDone, seq-2); err != nil {
				return err
			}
		}
		copy(b.area(side, g.me), in[off:hi])
		b.mark(g.me, boardStaged, seq)
		if err := t.waitAll(ctx, b, g, boardStaged, seq); err != nil {
			return err
		}
		sp := chunkSpans((hi-off)/esz, n, esz)[g.me]
		part := func(i int) []byte { return b.area(side, i)[sp.off : sp.off+sp.n] }
		if sp.n > 0 {
			dst := part(n)
			red(dst, part(0), part(1))
			for i := 2; i < n; i++ {
				red(dst, dst, part(i))
			}
		}
		if across != nil {
			if err := across(part(n)); err != nil {
				return err
			}
		}
		b.mark(g.me, boardReduced, seq)
		if err := t.waitAll(ctx, b, g, boardReduced, seq); err != nil {
			return err
		}
		copy(buf[off:hi], b.area(side, n))
		b.mark(g.me, boardDone, seq)
	}
	return nil
}
