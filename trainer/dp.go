package trainer

import (
	"context"
	"sync"
	"time"

	"bloom/internal/half"
	"bloom/npu"
	"bloom/trainer/bloom"
)

// gradReducer sums gradients across the data-parallel group in buckets of
// the flat gradient buffer, overlapped with the backward: as soon as the
// model reports the last micro-batch's backward done with every tensor of a
// bucket, the bucket goes to a goroutine that all-reduces it while the
// backward continues. Buckets are cut at tensor boundaries from the end of
// the buffer (the order the backward finishes them in), each at least
// BucketElems values, as Megatron's DDP buckets parameters. Frozen tensors
// (all but the adapters under LoRA) are in no bucket: a bucket is the
// trained pieces of its range.
type gradReducer struct {
	g     Group
	dev   npu.Device
	grads npu.Buf
	// f16 reduces in fp16 (--fp16, as DeepSpeed's engine all-reduces fp16
	// gradients): each rank rounds its bucket to fp16 first, and the sum
	// comes back as fp16 values.
	f16 bool
	h16 [][]uint16 // per bucket under f16: the fp16 copy all-reduced

	buckets [][]span    // in launch order, from the end of the buffer: each bucket's pieces
	sizes   []int       // per bucket: its values
	host    [][]float32 // per bucket while a run holds them (alloc, release): the host copy of its pieces, all-reduced
	pending []int       // per bucket: values whose gradient is not final yet
	queued  []bool

	queue chan int // buckets ready to reduce, in the order they became ready
	done  chan struct{}
	err   error         // the first failure of this step
	wait  time.Duration // time the last step waited for reductions after the backward
	mu    sync.Mutex
}

type span struct{ off, n int }

func newGradReducer(g Group, dev npu.Device, grads npu.Buf, l *bloom.Layout, bucketElems int, f16 bool) *gradReducer {
	r := &gradReducer{g: g, dev: dev, grads: grads, f16: f16}
	var cur []span
	size := 0
	flush := func() {
		if size > 0 {
			r.buckets = append(r.buckets, cur)
			r.sizes = append(r.sizes, size)
			if f16 {
				r.h16 = append(r.h16, make([]uint16, size))
			}
		}
		cur, size = nil, 0
	}
	for i := len(l.Tensors) - 1; i >= 0; i-- {
		t := l.Tensors[i]
		if t.Frozen {
			continue
		}
		if k := len(cur) - 1; k >= 0 && cur[k].off == t.Offset+t.Size {
			cur[k] = span{t.Offset, cur[k].n + t.Size}
		} else {
			cur = append(cur, span{t.Offset, t.Size})
		}
		if size += t.Size; size >= bucketElems {
			flush()
		}
	}
	flush()
	r.pending = make([]int, len(r.buckets))
	r.queued = make([]bool, len(r.buckets))
	return r
}

// alloc gives every bucket its host copy (page-locked when the device has
// it); release frees them. A run holds them from its start to its end.
func (r *gradReducer) alloc() {
	if r.host == nil {
		for _, n := range r.sizes {
			r.host = append(r.host, hostFloats(r.dev, n))
		}
	}
}

func (r *gradReducer) release() {
	for _, h := range r.host {
		freeHost(r.dev, h)
	}
	r.host = nil
}

// start begins a step: every bucket pending, and a goroutine, owned by the
// step and ended by finish, that reduces buckets as they become ready.
func (r *gradReducer) start(ctx context.Context) {
	r.alloc()
	for i := range r.buckets {
		r.pending[i], r.queued[i] = r.sizes[i], false
	}
	r.err = nil
	r.queue = make(chan int, len(r.buckets))
	r.done = make(chan struct{})
	go r.loop(ctx, r.queue, r.done)
}

func (r *gradReducer) loop(ctx context.Context, queue <-chan int, done chan<- struct{}) {
	defer close(done)
	for i := range queue {
		if r.failed() {
			continue
		}
		h, at := r.host[i], 0
		for _, p := range r.buckets[i] {
			r.dev.Read(h[at:at+p.n], r.grads.Slice(p.off, p.n))
			at += p.n
		}
		if err := r.allReduce(ctx, i); err != nil {
			r.mu.Lock()
			r.err = err
			r.mu.Unlock()
			continue
		}
		at = 0
		for _, p := range r.buckets[i] {
			r.dev.Write(r.grads.Slice(p.off, p.n), h[at:at+p.n])
			at += p.n
		}
	}
}

// allReduce sums bucket i's host copy across the group, in fp16 under f16.
func (r *gradReducer) allReduce(ctx context.Context, i int) error {
	h := r.host[i]
	if !r.f16 {
		return r.g.AllReduce(ctx, h, ReduceSum)
	}
	h16 := r.h16[i]
	half.ToF16(h16, h)
	if err := r.g.AllReduceF16(ctx, h16); err != nil {
		return err
	}
	half.FromF16(h, h16)
	return nil
}

func (r *gradReducer) failed() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.err != nil
}

// ready records that the gradients in [off, off+n) are final; buckets whose
// gradients are all final are queued. It runs on the compute goroutine.
func (r *gradReducer) ready(off, n int) {
	for i, pieces := range r.buckets {
		if r.queued[i] {
			continue
		}
		for _, b := range pieces {
			if lo, hi := max(off, b.off), min(off+n, b.off+b.n); lo < hi {
				r.pending[i] -= hi - lo
			}
		}
		if r.pending[i] <= 0 {
			r.queued[i] = true
			r.queue <- i
		}
	}
}

// finish queues any bucket not yet reported (in bucket order, the same on
// every replica), waits for every reduction and ends the step's goroutine.
func (r *gradReducer) finish() error {
	t := time.Now()
	for i := range r.buckets {
		if !r.queued[i] {
			r.queued[i] = true
			r.queue <- i
		}
	}
	close(r.queue)
	<-r.done
	r.wait = time.Since(t)
	return r.err
}
