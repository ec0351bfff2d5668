package bloom

import (
	"fmt"

	"bloom/npu"
)

// Pages holds keys and values in blocks of Size positions for the blocks
// and heads of the Part that made it: a pool that sequences of different
// lengths share, each a list of block ids (Seq). On a device that attends
// over blocks in place (npu.PagedAttender) the pool is all a batch takes
// besides one step's new keys and values. On others, decoding over pages
// (DecodePages) gathers one layer at a time into a scratch of rows ×
// context positions, so the pool plus one layer's scratch is the memory a
// batch takes, not rows × context positions of every layer.
type Pages struct {
	Size, N int
	k, v    []npu.Buf // per block of the part: (N, NH/TP, Size, HD)
	// A pool of half values (NewHalfPages) holds them in kh and vh
	// instead, on a device that attends over half pools in place.
	kh, vh []npu.HalfBuf
	// In place (a PagedAttender): per batch size, the cache of a step's new
	// keys and values whose blocks attend over the pool; the step's shape.
	inPlace npu.PagedAttender
	steps   map[int]*Cache
	step    pagedStep
	// Gathering: one layer's keys and values, every batch size's view of it.
	scratch *Cache
	views   map[int]*Cache
	gather  []npu.Span // a step's copies from the blocks into the scratch
	put     []npu.Span // and of its new positions back
}

// pagedStep is what every layer's attention of one step over pages in
// place shares: the device, the sequences' blocks and lengths, and where
// each row's new keys and values go in the pool.
type pagedStep struct {
	dev   npu.Device
	shape npu.PagedShape
	put   []npu.Span // from the step's (rows,NH/TP,1,HD) into the pool
}

// pagedLayer is one block's pool (float32 k and v, or half kh and vh)
// and the step it serves.
type pagedLayer struct {
	k, v   npu.Buf
	kh, vh npu.HalfBuf
	step   *pagedStep
}

// attend puts the new keys and values of b (split into b.k and b.v, one
// position per row) into their blocks and attends over each row's blocks
// into out.
func (p *pagedLayer) attend(b *blockActs, out npu.Buf) {
	st := p.step
	if p.kh != nil {
		hp := st.dev.(npu.HalfPagedAttender)
		hp.PutHalf(p.kh, b.k, st.put)
		hp.PutHalf(p.vh, b.v, st.put)
		hp.PagedAttentionHalf(out, b.q, p.kh, p.vh, st.shape)
		return
	}
	npu.CopySpans(st.dev, p.k, b.k, st.put)
	npu.CopySpans(st.dev, p.v, b.v, st.put)
	st.dev.(npu.PagedAttender).PagedAttention(out, b.q, p.k, p.v, st.shape)
}

// Seq is a sequence held in pages: its blocks in order and its length.
type Seq struct {
	Blocks []int32
	Len    int
}

// NewPages allocates n blocks of size positions, and, unless m's device
// attends over them in place, the scratch in which up to rows sequences of
// up to context positions are decoded.
func (m *Model) NewPages(n, size, rows, context int) *Pages {
	p := &Pages{Size: size, N: n, views: map[int]*Cache{}, steps: map[int]*Cache{}}
	for range m.Part.Layers {
		p.k = append(p.k, m.Dev.Alloc(n*size*m.tp.attn))
		p.v = append(p.v, m.Dev.Alloc(n*size*m.tp.attn))
	}
	if pa, ok := m.Dev.(npu.PagedAttender); ok {
		p.inPlace, p.step.dev = pa, m.Dev
		return p
	}
	sc := &Cache{B: rows, Cap: context, mask: make([]int32, rows*context), step: map[int]*acts{}}
	k, v := m.Dev.Alloc(rows*context*m.tp.attn), m.Dev.Alloc(rows*context*m.tp.attn)
	for range m.Part.Layers {
		sc.k, sc.v = append(sc.k, k), append(sc.v, v)
	}
	p.scratch = sc
	return p
}

// NewHalfPages is NewPages for a pool of keys and values of half type t
// (npu.F16 or npu.BF16): half the memory, and half the bytes a decoding
// step reads, of a float32 pool; the values are rounded to t as they enter
// it. It needs a device that attends over half pools in place
// (npu.HalfPagedAttender).
func (m *Model) NewHalfPages(t npu.DType, n, size int) (*Pages, error) {
	if t != npu.F16 && t != npu.BF16 {
		return nil, fmt.Errorf("%w: a key/value cache of %v: the half types are fp16 and bf16", ErrInput, t)
	}
	hp, ok := m.Dev.(npu.HalfPagedAttender)
	if !ok {
		return nil, fmt.Errorf("%w: a key/value cache of %v needs a device that attends over half values in place; this %T keeps fp32", ErrInput, t, m.Dev)
	}
	p := &Pages{Size: size, N: n, steps: map[int]*Cache{}, inPlace: hp}
	p.step.dev = m.Dev
	for range m.Part.Layers {
		p.kh = append(p.kh, hp.AllocHalf(t, n*size*m.tp.attn))
		p.vh = append(p.vh, hp.AllocHalf(t, n*size*m.tp.attn))
	}
	return p, nil
}

// KV is the type the pool holds keys and values in.
func (p *Pages) KV() npu.DType {
	if len(p.kh) > 0 {
		return p.kh[0].DType()
	}
	return npu.F32
}

// layers is the pool's number of layers.
func (p *Pages) layers() int { return max(len(p.k), len(p.kh)) }

// Store writes the sequence src holds (its one row, src.Len positions)
// into s's blocks, from position 0, and sets s.Len.
func (m *Model) Store(p *Pages, s *Seq, src *Cache) error {
	if src.B != 1 || len(src.k) != p.layers() || len(s.Blocks)*p.Size < src.Len {
		return fmt.Errorf("%w: store %d positions in %d blocks of %d", ErrInput, src.Len, len(s.Blocks), p.Size)
	}
	nh, hd := m.tp.heads, m.Cfg.HeadDim()
	for l := range p.layers() {
		for h := range nh {
			for j := 0; j*p.Size < src.Len; j++ {
				cnt := min(p.Size, src.Len-j*p.Size)
				dst := (int(s.Blocks[j])*nh + h) * p.Size * hd
				from := (h*src.Cap + j*p.Size) * hd
				if len(p.kh) > 0 {
					m.Dev.ToHalf(p.kh[l].Slice(dst, cnt*hd), src.k[l].Slice(from, cnt*hd), cnt*hd)
					m.Dev.ToHalf(p.vh[l].Slice(dst, cnt*hd), src.v[l].Slice(from, cnt*hd), cnt*hd)
					continue
				}
				m.Dev.Copy(p.k[l].Slice(dst, cnt*hd), src.k[l].Slice(from, cnt*hd))
				m.Dev.Copy(p.v[l].Slice(dst, cnt*hd), src.v[l].Slice(from, cnt*hd))
			}
		}
	}
	s.Len = src.Len
	return nil
}

// DecodePages is DecodeStage over sequences held in pages: row r of ids
// (one token each) is appended to seqs[r], whose blocks must have room
// for it; the lengths grow by one. Each layer's attention runs over the
// rows' keys and values gathered into the scratch, right-aligned with the
// earlier positions masked out, so each row attends to its own tokens at
// the relative positions it has alone; the new position's keys and values
// go back to the row's blocks.
func (m *Model) DecodePages(p *Pages, seqs []Seq, ids []int32, in npu.Buf) (npu.Buf, error) {
	return m.DecodePagesHead(p, seqs, ids, in, len(seqs))
}

// InPlace tells whether the pool is attended over in place (the device is
// an npu.PagedAttender): then a step may hold more rows than the pool was
// made for, and several rows may be positions of one sequence (see
// DecodePagesHead).
func (p *Pages) InPlace() bool { return p.inPlace != nil }

// DecodePagesHead is DecodePages with logits for the first head rows only
// (1 <= head <= len(seqs)). On a pool attended over in place, rows may be
// consecutive positions of one sequence — copies of its Seq with the
// lengths before each position, all of which are written before any row
// attends, so each attends to the positions before it and itself: how a
// prompt is prefilled within a decoding step. A row repeated exactly (the
// same Seq and token) writes and computes the same values again.
func (m *Model) DecodePagesHead(p *Pages, seqs []Seq, ids []int32, in npu.Buf, head int) (npu.Buf, error) {
	n, T := len(seqs), 0
	if head < 1 || head > n {
		return nil, fmt.Errorf("%w: logits of %d rows of %d", ErrInput, head, n)
	}
	for _, s := range seqs {
		T = max(T, s.Len)
		if len(s.Blocks)*p.Size < s.Len+1 {
			return nil, fmt.Errorf("%w: a sequence of %d positions in %d blocks of %d has no room", ErrInput, s.Len, len(s.Blocks), p.Size)
		}
	}
	if p.inPlace != nil {
		if n == 0 || len(ids) != n {
			return nil, fmt.Errorf("%w: %d tokens for %d sequences", ErrInput, len(ids), n)
		}
		return m.decodeInPlace(p, seqs, ids, in, head)
	}
	if n == 0 || n > p.scratch.B || len(ids) != n || T+1 > p.scratch.Cap {
		return nil, fmt.Errorf("%w: %d tokens for %d sequences of up to %d positions (at most %d of %d)", ErrInput, len(ids), n, T, p.scratch.B, p.scratch.Cap)
	}
	v := p.views[n]
	if v == nil {
		v = m.Rows(p.scratch, n)
		p.views[n] = v
	}
	for r, s := range seqs {
		mask := v.mask[r*v.Cap : r*v.Cap+T]
		clear(mask[:T-s.Len])
		for t := T - s.Len; t < T; t++ {
			mask[t] = 1
		}
	}
	// The spans of the gather (pages to scratch) and of the new positions
	// (scratch to pages) are the same for every layer.
	nh, hd := m.tp.heads, m.Cfg.HeadDim()
	p.gather, p.put = p.gather[:0], p.put[:0]
	for r, s := range seqs {
		for h := range nh {
			row := (r*nh + h) * v.Cap * hd // position 0 of row r, head h, in the scratch
			at := T - s.Len
			for j := 0; j*p.Size < s.Len; j++ {
				cnt := min(p.Size, s.Len-j*p.Size)
				p.gather = append(p.gather, npu.Span{Dst: row + (at+j*p.Size)*hd, Src: (int(s.Blocks[j])*nh + h) * p.Size * hd, N: cnt * hd})
			}
			dst := ((int(s.Blocks[s.Len/p.Size])*nh+h)*p.Size + s.Len%p.Size) * hd
			p.put = append(p.put, npu.Span{Dst: dst, Src: row + T*hd, N: hd})
		}
	}
	v.Len, v.head = T, head
	v.hook = func(l int, after bool) {
		if after { // the new position: into its block
			npu.CopySpans(m.Dev, p.k[l], v.k[l], p.put)
			npu.CopySpans(m.Dev, p.v[l], v.v[l], p.put)
			return
		}
		npu.CopySpans(m.Dev, v.k[l], p.k[l], p.gather)
		npu.CopySpans(m.Dev, v.v[l], p.v[l], p.gather)
	}
	out, err := m.DecodeStage(v, ids, nil, in)
	v.hook = nil
	if err != nil {
		return nil, err
	}
	for r := range seqs {
		seqs[r].Len++
	}
	return out, nil
}

// decodeInPlace is DecodePages on a device that attends over the blocks in
// place: each layer splits the rows' new keys and values into a cache of
// one position per row, puts them into their blocks, and attends over
// each row's blocks (pagedLayer.attend).
func (m *Model) decodeInPlace(p *Pages, seqs []Seq, ids []int32, in npu.Buf, head int) (npu.Buf, error) {
	n := len(seqs)
	c := p.steps[n]
	if c == nil {
		c = &Cache{B: n, Cap: 1, mask: make([]int32, n), step: map[int]*acts{}}
		k, v := m.Dev.Alloc(n*m.tp.attn), m.Dev.Alloc(n*m.tp.attn)
		for l := range p.layers() {
			c.k, c.v = append(c.k, k), append(c.v, v)
			pl := &pagedLayer{step: &p.step}
			if len(p.kh) > 0 {
				pl.kh, pl.vh = p.kh[l], p.vh[l]
			} else {
				pl.k, pl.v = p.k[l], p.v[l]
			}
			c.paged = append(c.paged, pl)
		}
		p.steps[n] = c
	}
	nh, hd := m.tp.heads, m.Cfg.HeadDim()
	st := &p.step
	st.shape = npu.PagedShape{Rows: n, NH: nh, HD: hd, Size: p.Size, N: p.N, Slopes: m.slopes,
		Tables: st.shape.Tables[:0], Lens: st.shape.Lens[:0]}
	st.put = st.put[:0]
	for r, s := range seqs {
		st.shape.Tables = append(st.shape.Tables, s.Blocks)
		st.shape.Lens = append(st.shape.Lens, s.Len+1)
		for h := range nh {
			dst := ((int(s.Blocks[s.Len/p.Size])*nh+h)*p.Size + s.Len%p.Size) * hd
			st.put = append(st.put, npu.Span{Dst: dst, Src: (r*nh + h) * hd, N: hd})
		}
	}
	c.Len, c.head = 0, head
	out, err := m.DecodeStage(c, ids, nil, in)
	if err != nil {
		return nil, err
	}
	for r := range seqs {
		seqs[r].Len++
	}
	return out, nil
}
