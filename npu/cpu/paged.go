package cpu

import (
	"fmt"
	"math"
	"slices"
	"unsafe"

	"bloom/internal/half"
	"bloom/npu"
)

// PagedAttention is decoding attention over a paged KV cache in place (see
// npu.PagedAttender). Rows next to each other with the same block table
// (the same slice) are positions of one sequence, a prompt prefilled within
// a decoding step: they are one task per head, which reads the sequence's
// keys and values once for all of them and computes as AttentionForward's
// prefill does (pagedGroup). Any other row is a task per (row, head) that
// computes its query's scores block by block into its worker's scratch,
// adds the ALiBi term and takes the softmax as AttentionForward does
// (softmaxScores), and sums the values block by block. A task's order of
// operations depends only on its own rows, never on the others or the
// thread count, so a sequence decoded alone gets the same bits as in any
// batch (and a row of a group the same bits whatever else the group holds).
func (d *Device) PagedAttention(out, q, k, v npu.Buf, s npu.PagedShape) {
	const op = "PagedAttention"
	checkPaged(op, s)
	d.pagedAttention(op, out, q, pagedPool{
		k: view(op, "k", k, s.N*s.NH*s.Size*s.HD),
		v: view(op, "v", v, s.N*s.NH*s.Size*s.HD),
	}, s)
}

// PagedAttentionHalf implements npu.HalfPagedAttender: PagedAttention's
// tasks, each block of keys or values widened, exactly, into the worker's
// scratch as it is read, so the bits are PagedAttention's over the widened
// pools while the pools hold, and a step reads, half the bytes.
func (d *Device) PagedAttentionHalf(out, q npu.Buf, k, v npu.HalfBuf, s npu.PagedShape) {
	const op = "PagedAttentionHalf"
	checkPaged(op, s)
	kh, kt := halfView(op, "k", k, s.N*s.NH*s.Size*s.HD)
	vh, vt := halfView(op, "v", v, s.N*s.NH*s.Size*s.HD)
	if kt != vt {
		panic(fmt.Sprintf("cpu: %s: k is %v and v is %v; they must have one type", op, kt, vt))
	}
	d.pagedAttention(op, out, q, pagedPool{kh: kh, vh: vh, t: kt}, s)
}

// PutHalf implements npu.HalfPagedAttender: each span of src rounded into
// dst as ToHalf rounds.
func (d *Device) PutHalf(dst npu.HalfBuf, src npu.Buf, spans []npu.Span) {
	h, t := Halves(dst)
	f := Floats(src)
	conv := half.ToF16
	if t == npu.BF16 {
		conv = half.ToBF16
	}
	for _, s := range spans {
		conv(h[s.Dst:s.Dst+s.N], f[s.Src:s.Src+s.N])
	}
}

func checkPaged(op string, s npu.PagedShape) {
	if err := s.Check(); err != nil {
		panic(fmt.Sprintf("cpu: %s: %v", op, err))
	}
}

// pagedPool is a pool of keys and values: float32 (k, v), or half values
// of type t (kh, vh).
type pagedPool struct {
	k, v   []float32
	kh, vh []uint16
	t      npu.DType
}

// halfRowKernels are dotRows and axpyRows over rows of half values of one
// type, widened as they are read: the bits of the float32 kernels over the
// widened rows.
type halfRowKernels struct {
	dot  func(y *float32, x *uint16, q *float32, n, hd int, scale float32)
	axpy func(y *float32, x *uint16, p *float32, n, hd int)
}

// halfRows are the half row kernels by type where this CPU has them (set
// at init; a type without them is widened into scratch first).
var halfRows [3]halfRowKernels

// dotKeys is dotRows over the len(y) keys from offset at (hd = len(q)):
// read in place, by a half row kernel, or widened into buf first.
func (p *pagedPool) dotKeys(y []float32, at int, q []float32, scale float32, buf []float32) {
	n, hd := len(y), len(q)
	if k := halfRows[p.t].dot; p.kh != nil && k != nil && hd%8 == 0 && n > 0 {
		x := p.kh[at : at+n*hd]
		k(&y[0], &x[0], &q[0], n, hd, scale)
		return
	}
	dotRows(y, p.keys(at, n*hd, buf), q, scale)
}

// axpyValues is axpyRows over the len(w) values from offset at (hd =
// len(y)), as dotKeys reads keys.
func (p *pagedPool) axpyValues(y []float32, at int, w []float32, buf []float32) {
	n, hd := len(w), len(y)
	if k := halfRows[p.t].axpy; p.vh != nil && k != nil && hd%8 == 0 && n > 0 {
		x := p.vh[at : at+n*hd]
		k(&y[0], &x[0], &w[0], n, hd)
		return
	}
	axpyRows(y, p.values(at, n*hd, buf), w)
}

// keys and values return n values of the pool from offset at as float32:
// in place, or widened into buf (at least n long).
func (p *pagedPool) keys(at, n int, buf []float32) []float32 {
	return p.read(p.k, p.kh, at, n, buf)
}

func (p *pagedPool) values(at, n int, buf []float32) []float32 {
	return p.read(p.v, p.vh, at, n, buf)
}

func (p *pagedPool) read(f []float32, h []uint16, at, n int, buf []float32) []float32 {
	if h == nil {
		return f[at : at+n]
	}
	buf = buf[:n]
	widen(p.t, buf, h[at:at+n])
	return buf
}

// prefetchKeys and prefetchValues ask for the cache lines of n keys (or
// values) from at, where the vector kernels run.
func (p *pagedPool) prefetchKeys(at, n int)   { prefetchPool(p.k, p.kh, at, n) }
func (p *pagedPool) prefetchValues(at, n int) { prefetchPool(p.v, p.vh, at, n) }

func prefetchPool(f []float32, h []uint16, at, n int) {
	if !hasVec || n == 0 {
		return
	}
	if h == nil {
		prefetchLines(&f[at], n)
		return
	}
	prefetchLines((*float32)(unsafe.Pointer(&h[at])), (n+1)/2)
}

// pagedAttention is PagedAttention over pool p.
func (d *Device) pagedAttention(op string, out, q npu.Buf, p pagedPool, s npu.PagedShape) {
	R, NH, HD, Size := s.Rows, s.NH, s.HD, s.Size
	o := view(op, "out", out, R*NH*HD)
	qv := view(op, "q", q, R*NH*HD)
	longest := 0
	for _, n := range s.Lens[:R] {
		longest = max(longest, n)
	}
	order, at, grouped := pagedGroups(s)
	// A worker's scratch: a lone row's scores and, for a half pool, one
	// block of keys or values widened; for groups, the sequence's keys and
	// values of one head, a block of queries, their outputs and their
	// scores.
	blockBuf := 0
	if p.kh != nil {
		blockBuf = Size * HD
	}
	per := longest + blockBuf
	if grouped {
		per += 2*longest*HD + 2*attnBlock*HD + attnBlock*longest
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	scratch := d.scratch32(d.pool.threads*per + longest)
	pos := scratch[d.pool.threads*per:] // key j's ALiBi position: j
	alibiPositions(pos, nil, 1, longest)
	scale := float32(1 / math.Sqrt(float64(HD)))
	// A (row, head) task costs about 4·longest·HD flops; a part of fewer
	// than pagedGrainFlops runs where it is, not on another thread.
	grain := max(1, pagedGrainFlops/max(4*longest*HD, 1))
	d.pool.parallelWorkers((len(at)-1)*NH, grain, func(w, lo, hi int) {
		ws := scratch[w*per : (w+1)*per]
		sc, buf := ws[:longest], ws[longest:longest+blockBuf]
		for gh := lo; gh < hi; gh++ {
			g, h := gh/NH, gh%NH
			rows := order[at[g]:at[g+1]]
			if len(rows) > 1 {
				pagedGroup(o, qv, &p, ws[longest+blockBuf:], pos, s, rows, h, scale)
				continue
			}
			r := rows[0]
			rh := r*NH + h
			n, table := s.Lens[r], s.Tables[r]
			qh, oh := qv[rh*HD:(rh+1)*HD], o[rh*HD:(rh+1)*HD]
			// block i: where its rows of this sequence's head start, and
			// how many values they are
			block := func(i int) (int, int) {
				return (int(table[i])*NH + h) * Size * HD, min(Size, n-i*Size) * HD
			}
			blocks := (n + Size - 1) / Size
			// Each block's keys (then values) are asked for while the one
			// before is computed: the blocks lie anywhere in the pool, so
			// the hardware prefetcher cannot guess the next one.
			p.prefetchKeys(block(0))
			for i := range blocks {
				if i+1 < blocks {
					p.prefetchKeys(block(i + 1))
				} else {
					p.prefetchValues(block(0))
				}
				from, _ := block(i)
				p.dotKeys(sc[i*Size:min((i+1)*Size, n)], from, qh, scale, buf)
			}
			softmaxScores(sc[:n], pos[:n], nil, 0, n-1, s.Slopes[h]) // every key is a token
			clear(oh)
			for i := range blocks {
				if i+1 < blocks {
					p.prefetchValues(block(i + 1))
				}
				from, _ := block(i)
				p.axpyValues(oh, from, sc[i*Size:min((i+1)*Size, n)], buf)
			}
		}
	})
}

// pagedGroups splits the rows of s into runs of neighbours with the same
// block table (the same slice), each ordered by length (stable): run g is
// order[at[g]:at[g+1]]. grouped reports whether a run holds several rows.
func pagedGroups(s npu.PagedShape) (order, at []int, grouped bool) {
	order, at = make([]int, s.Rows), make([]int, 0, s.Rows+1)
	for r := range s.Rows {
		order[r] = r
		if r > 0 && sameTable(s.Tables[r-1], s.Tables[r]) {
			grouped = true
			continue
		}
		at = append(at, r)
	}
	at = append(at, s.Rows)
	for g := range len(at) - 1 {
		slices.SortStableFunc(order[at[g]:at[g+1]], func(a, b int) int { return s.Lens[a] - s.Lens[b] })
	}
	return order, at, grouped
}

func sameTable(a, b []int32) bool { return len(a) == len(b) && len(a) > 0 && &a[0] == &b[0] }

// pagedGroup is the attention of rows (ordered by length) of one sequence
// for head h, as AttentionForward computes a prefill: the sequence's keys
// and values of the head, up to the longest row, copied out of their blocks
// into ws, then blocks of up to attnBlock queries, each a GEMM of scores
// over the keys its last query sees, a softmax per query over its own
// length, and a GEMM of the values.
func pagedGroup(o, qv []float32, p *pagedPool, ws, pos []float32, s npu.PagedShape, rows []int, h int, scale float32) {
	NH, HD, Size := s.NH, s.HD, s.Size
	table, n := s.Tables[rows[0]], s.Lens[rows[len(rows)-1]]
	kc, vc := ws[:n*HD], ws[n*HD:2*n*HD]
	ws = ws[2*n*HD:]
	qg, og, sc := ws[:attnBlock*HD], ws[attnBlock*HD:2*attnBlock*HD], ws[2*attnBlock*HD:]
	for i := 0; i*Size < n; i++ {
		at, cnt := (int(table[i])*NH+h)*Size*HD, min(Size, n-i*Size)
		dk, dv := kc[i*Size*HD:], vc[i*Size*HD:]
		copy(dk, p.keys(at, cnt*HD, dk))
		copy(dv, p.values(at, cnt*HD, dv))
	}
	for i0 := 0; i0 < len(rows); i0 += attnBlock {
		blk := rows[i0:min(i0+attnBlock, len(rows))]
		nk := s.Lens[blk[len(blk)-1]] // keys the block's last query sees
		for j, r := range blk {
			copy(qg[j*HD:(j+1)*HD], qv[(r*NH+h)*HD:])
		}
		sgemm(serialPool, false, true, len(blk), nk, HD, scale, qg, HD, kc, HD, 0, sc, nk)
		for j, r := range blk {
			softmaxScores(sc[j*nk:(j+1)*nk], pos[:nk], nil, 0, s.Lens[r]-1, s.Slopes[h])
		}
		sgemm(serialPool, false, false, len(blk), HD, nk, 1, sc, nk, vc, HD, 0, og, HD)
		for j, r := range blk {
			copy(o[(r*NH+h)*HD:(r*NH+h+1)*HD], og[j*HD:(j+1)*HD])
		}
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
