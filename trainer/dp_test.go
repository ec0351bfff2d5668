package trainer

import (
	"context"
	"slices"
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

func (g *signalGroup) AllReduceF16(ctx context.Context, buf []uint16) error {
	return viaF32(buf, func(f []float32) error { return g.AllReduce(ctx, f, ReduceSum) })
}

// TestBucketsOverlapBackward: a bucket's all-reduce starts as soon as the
// backward reports its last tensor ready, before the backward goes on to
// the next, and every gradient is reduced once; under LoRA only the
// adapters' are, in buckets of several pieces.
func TestBucketsOverlapBackward(t *testing.T) {
	c := bloom.Config{Vocab: 16, Hidden: 8, Heads: 2, Layers: 3, Eps: 1e-5}
	bucketsOverlapBackward(t, c, 12*64+13*8) // about one bucket per block
	c.LoRA = bloom.LoRA{R: 2, Alpha: 4, Targets: bloom.LoRAQKV | bloom.LoRAProj}
	bucketsOverlapBackward(t, c, 200) // a block's adapters are 144 values: buckets straddle blocks
}

func bucketsOverlapBackward(t *testing.T, c bloom.Config, bucketElems int) {
	m, _ := bloom.New(cpu.New(1), c)
	m.ZeroGrads()
	l := m.Layout
	m.Dev.Fill(m.Grads, 1)
	g := &signalGroup{calls: make(chan int, 16)}
	r := newGradReducer(g, m.Dev, m.Grads, l, bucketElems, false)
	if c.LoRA.On() && !slices.ContainsFunc(r.buckets, func(b []span) bool { return len(b) > 1 }) {
		t.Fatalf("no bucket of several pieces: %v", r.buckets)
	}
	if len(r.buckets) < 2 {
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
				if n != len(r.host[launched]) {
					t.Fatalf("bucket %d: reduced %d values, it holds %d", launched, n, len(r.host[launched]))
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
	grads := readBuf(m.Dev, m.Grads)
	for _, tn := range l.Tensors {
		want := float32(2)
		if tn.Frozen {
			want = 1
		}
		for i, v := range grads[tn.Offset : tn.Offset+tn.Size] {
			if v != want {
				t.Fatalf("%s gradient %d is %v after the reductions, want %v", tn.Name, i, v, want)
			}
		}
	}
}
