package collective

import (
	"context"
	"fmt"
)

// Typed helpers: the trainer passes slices of its flat gradient buffer
// (float32, or its fp16 copy). None keeps a slice after it returns.

// AllReduceF32 reduces send over all ranks into recv (len(send) elements);
// send and recv may be the same slice.
func (c *Comm) AllReduceF32(ctx context.Context, send, recv []float32, op ReduceOp) error {
	if len(recv) < len(send) {
		return errShort(len(recv), len(send))
	}
	return c.AllReduce(ctx, bytesOf(send), bytesOf(recv), len(send), Float32, op)
}

// AllReduceHalf reduces send, 16-bit floats of type dt (Float16 or
// BFloat16, internal/half's bits), over all ranks into recv; send and recv
// may be the same slice. Each element is summed in float32 and rounded back
// as the type's reduction does (see half.go).
func (c *Comm) AllReduceHalf(ctx context.Context, send, recv []uint16, dt DataType, op ReduceOp) error {
	if len(recv) < len(send) {
		return errShort(len(recv), len(send))
	}
	if dt != Float16 && dt != BFloat16 {
		return fmt.Errorf("collective: AllReduceHalf of %v: want Float16 or BFloat16", dt)
	}
	return c.AllReduce(ctx, bytesOf(send), bytesOf(recv), len(send), dt, op)
}

// ReduceScatterF32 leaves block Rank() (len(recv) elements) of the reduction
// of send (len(recv)·Size() elements) in recv.
func (c *Comm) ReduceScatterF32(ctx context.Context, send, recv []float32, op ReduceOp) error {
	return c.ReduceScatter(ctx, bytesOf(send), bytesOf(recv), len(recv), Float32, op)
}

// AllGatherF32 gathers every rank's send, in rank order, into recv.
func (c *Comm) AllGatherF32(ctx context.Context, send, recv []float32) error {
	return c.AllGather(ctx, bytesOf(send), bytesOf(recv), len(send), Float32)
}

// BroadcastF32 copies root's buf into buf on every rank.
func (c *Comm) BroadcastF32(ctx context.Context, buf []float32, root int) error {
	return c.Broadcast(ctx, bytesOf(buf), len(buf), Float32, root)
}

// ReduceF32 reduces send over all ranks into recv on root.
func (c *Comm) ReduceF32(ctx context.Context, send, recv []float32, op ReduceOp, root int) error {
	return c.Reduce(ctx, bytesOf(send), bytesOf(recv), len(send), Float32, op, root)
}

// SendF32 sends buf to peer.
func (c *Comm) SendF32(ctx context.Context, buf []float32, peer int) error {
	return c.Send(ctx, bytesOf(buf), len(buf), Float32, peer)
}

// RecvF32 receives len(buf) elements from peer into buf.
func (c *Comm) RecvF32(ctx context.Context, buf []float32, peer int) error {
	return c.Recv(ctx, bytesOf(buf), len(buf), Float32, peer)
}

func errShort(have, want int) error {
	return fmt.Errorf("collective: recv of %d elements is shorter than send (%d)", have, want)
}
