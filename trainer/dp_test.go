package trainer

import (
	"context"
	"testing"
	"time"

	"bloom/npu/cpu"
	"bloom/trainer/bloom"
)

// signalGroup is a one-member Group that doubles what it reduces and
// reports each call's length.
type signalGroup struct{ calls chan int }

func (g *signalGroup) Size() int { return 1 }
func (g *signalGroup) Rank() int { return 0 }
func (g *signalGroup) AllReduce(_ context.Context, buf []float32, _ ReduceOp) error {
	for i := range buf {
		buf[i] *= 2
	}
	g.calls <- len(buf)
	return nil
}

// TestBucketsOverlapBackward: a bucket's all-reduce starts as soon as the
// backward reports its last tensor ready, before the backward goes on to
// the next, and every gradient is reduced once.
func TestBucketsOverlapBackward(t *testing.T) {
	c := bloom.Config{Vocab: 16, Hidden: 8, Heads: 2, Layers: 3, Eps: 1e-5}
	m, _ := bloom.New(cpu.New(1), c)
	m.ZeroGrads()
	l := m.Layout
	m.Dev.Fill(m.Grads, 1)
	g := &signalGroup{calls: make(chan int, 16)}
	blockSize := 12*64 + 13*8
	r := newGradReducer(g, m.Dev, m.Grads, l, blockSize) // about one bucket per block
	if len(r.buckets) < 4 {
		t.Fatalf("%d buckets", len(r.buckets))
	}
	r.start(context.Background())
	// The backward's order: the head, blocks from the last, the embedding.
	// Report the tensors from the end one by one: each bucket's reduction
	// must start before the next report.
	launched := 0
	for i := len(l.Tensors) - 1; i >= 0; i-- {
		r.ready(l.Tensors[i].Offset, l.Tensors[i].Size)
		for launched < len(r.buckets) && r.queued[launched] {
			select {
			case n := <-g.calls:
				if n != r.buckets[launched].n {
					t.Fatalf("bucket %d: reduced %d values, it holds %d", launched, n, r.buckets[launched].n)
				}
			case <-time.After(10 * time.Second):
				t.Fatalf("bucket %d queued after tensor %s but not reduced", launched, l.Tensors[i].Name)
			}
			launched++
		}
	}
	if err := r.finish(); err != nil {
		t.Fatal(err)
	}
	if launched != len(r.buckets) {
		t.Fatalf("%d of %d buckets reduced during the backward", launched, len(r.buckets))
	}
	for i, v := range readBuf(m.Dev, m.Grads) {
		if v != 2 {
			t.Fatalf("gradient %d is %v after one reduction, want 2", i, v)
		}
	}
}
