package trainer

import (
	"context"

	"bloom/npu"
)

// tpComm lets the model's tensor-parallel layers reduce device buffers over a
// Group of host slices: it stages each buffer through host memory it reuses.
// It is used from the rank's compute goroutine only.
type tpComm struct {
	ctx  context.Context // the running step's
	g    Group
	dev  npu.Device
	host []float32
}

func (t *tpComm) reduce(b npu.Buf, op ReduceOp) error {
	n := b.Len()
	if cap(t.host) < n {
		t.host = make([]float32, n)
	}
	h := t.host[:n]
	t.dev.Read(h, b)
	if err := t.g.AllReduce(t.ctx, h, op); err != nil {
		return err
	}
	t.dev.Write(b, h)
	return nil
}

// AllReduceSum implements bloom.TPComm.
func (t *tpComm) AllReduceSum(b npu.Buf) error { return t.reduce(b, ReduceSum) }

// AllReduceMax implements bloom.TPComm.
func (t *tpComm) AllReduceMax(b npu.Buf) error { return t.reduce(b, ReduceMax) }
