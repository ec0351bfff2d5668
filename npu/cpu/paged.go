package cpu

import (
	"fmt"
	"math"

	"bloom/npu"
)

// PagedAttention is decoding attention over a paged KV cache in place (see
// npu.PagedAttender): one task per (sequence, head) computes the query's
// scores block by block into its worker's scratch, adds the ALiBi term and
// takes the softmax as AttentionForward does (softmaxScores), and sums the values block by block. A task's order of operations depends
// only on its sequence, never on the others or the thread count, so a
// sequence decoded alone gets the same bits as in any batch.
func (d *Device) PagedAttention(out, q, k, v npu.Buf, s npu.PagedShape) {
	const op = "PagedAttention"
	if err := s.Check(); err != nil {
		panic(fmt.Sprintf("cpu: %s: %v", op, err))
	}
	R, NH, HD, Size := s.Rows, s.NH, s.HD, s.Size
	o := view(op, "out", out, R*NH*HD)
	qv := view(op, "q", q, R*NH*HD)
	kv := view(op, "k", k, s.N*NH*Size*HD)
	vv := view(op, "v", v, s.N*NH*Size*HD)
	longest := 0
	for _, n := range s.Lens[:R] {
		longest = max(longest, n)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	scratch := d.scratch32((d.pool.threads + 1) * longest)
	pos := scratch[d.pool.threads*longest:] // key j's ALiBi position: j
	alibiPositions(pos, nil, 1, longest)
	scale := float32(1 / math.Sqrt(float64(HD)))
	// A (sequence, head) task costs about 4·longest·HD flops; a part of
	// fewer than pagedGrainFlops runs where it is, not on another thread.
	grain := max(1, pagedGrainFlops/max(4*longest*HD, 1))
	d.pool.parallelWorkers(R*NH, grain, func(w, lo, hi int) {
		sc := scratch[w*longest : (w+1)*longest]
		for rh := lo; rh < hi; rh++ {
			r, h := rh/NH, rh%NH
			n, table := s.Lens[r], s.Tables[r]
			qh, oh := qv[rh*HD:(rh+1)*HD], o[rh*HD:(rh+1)*HD]
			// block i of x: its rows of this sequence's head
			block := func(x []float32, i int) []float32 {
				at := (int(table[i])*NH + h) * Size * HD
				return x[at : at+min(Size, n-i*Size)*HD]
			}
			blocks := (n + Size - 1) / Size
			// Each block's keys (then values) are asked for while the one
			// before is computed: the blocks lie anywhere in the pool, so
			// the hardware prefetcher cannot guess the next one.
			prefetch(block(kv, 0))
			for i := range blocks {
				if i+1 < blocks {
					prefetch(block(kv, i+1))
				} else {
					prefetch(block(vv, 0))
				}
				dotRows(sc[i*Size:min((i+1)*Size, n)], block(kv, i), qh, scale)
			}
			softmaxScores(sc[:n], pos[:n], nil, 0, n-1, s.Slopes[h]) // every key is a token
			clear(oh)
			for i := range blocks {
				if i+1 < blocks {
					prefetch(block(vv, i+1))
				}
				axpyRows(oh, block(vv, i), sc[i*Size:min((i+1)*Size, n)])
			}
		}
	})
}

// prefetch asks for the cache lines of x where the vector kernels run.
func prefetch(x []float32) {
	if hasVec && len(x) > 0 {
		prefetchLines(&x[0], len(x))
	}
}

// pagedGrainFlops is the least work worth a thread in PagedAttention:
// waking one costs microseconds, about this much arithmetic.
const pagedGrainFlops = 1 << 18

// dotRows sets y[j] = scale·(x[j]·q) for the len(y) rows x[j] of len(q)
// values stored one after another in x.
func dotRows(y, x, q []float32, scale float32) {
	hd := len(q)
	x = x[:len(y)*hd]
	if hasVec && hd > 0 && hd%8 == 0 && len(y) > 0 {
		dotRowsAVX2(&y[0], &x[0], &q[0], len(y), hd, scale)
		return
	}
	for j := range y {
		y[j] = scale * dot(x[j*hd:(j+1)*hd], q)
	}
}

// axpyRows adds Σ_j p[j]·x[j] into y, for the len(p) rows x[j] of len(y)
// values stored one after another in x.
func axpyRows(y, x, p []float32) {
	hd := len(y)
	x = x[:len(p)*hd]
	if hasVec && hd > 0 && hd%8 == 0 && len(p) > 0 {
		axpyRowsAVX2(&y[0], &x[0], &p[0], len(p), hd)
		return
	}
	for j, a := range p {
		axpy(y, a, x[j*hd:(j+1)*hd])
	}
}
