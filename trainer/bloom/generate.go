package bloom

import (
	"fmt"
	"slices"

	"bloom/npu"
)

// Cache is the key/value cache of B rows for incremental decoding: every
// block's k and v (B,NH/TP,Cap,HD) of the Part that made it, and the padding
// mask of the positions so far.
type Cache struct {
	B, Cap, Len int
	k, v        []npu.Buf // per block of the part
	mask        []int32   // (B,Cap) 1 = token, 0 = padding
	step        map[int]*acts
	// hook, when set, runs before (after false) and after each block's
	// attention: how DecodePages gathers a layer into the cache and puts
	// its new position back.
	hook func(l int, after bool)
	// paged, when set, holds each block's pool of keys and values: the
	// cache holds only a step's new ones, which attention puts into their
	// blocks before attending over them in place (DecodePages on a
	// npu.PagedAttender).
	paged []*pagedLayer
	// head, when in (0, B), is how many rows, the first ones, the head
	// computes logits for (a step's prompt rows need none).
	head int
}

// NewCache allocates a cache for B rows of up to capacity positions, for
// the blocks and heads m's Part holds.
func (m *Model) NewCache(B, capacity int) *Cache {
	c := &Cache{B: B, Cap: capacity, mask: make([]int32, B*capacity), step: map[int]*acts{}}
	n := B * capacity * m.tp.attn
	for range m.Part.Layers {
		c.k = append(c.k, m.Dev.Alloc(n))
		c.v = append(c.v, m.Dev.Alloc(n))
	}
	return c
}

// Decode appends Tq positions to every row of the cache: ids and mask are
// (B,Tq), mask nil meaning all tokens. It returns the logits (B,V) of each
// row's last new position, in a buffer the next Decode overwrites. The
// part must hold a whole pipeline (Embed and Head); under tensor
// parallelism the logits are this rank's vocabulary rows (B,V/TP).
func (m *Model) Decode(c *Cache, ids, mask []int32) (npu.Buf, error) {
	if !m.Part.Embed || !m.Part.Head {
		return nil, fmt.Errorf("%w: Decode runs a whole pipeline; a stage runs DecodeStage", ErrInput)
	}
	return m.DecodeStage(c, ids, mask, nil)
}

// DecodeStage is Decode on one pipeline stage. Every stage is given the
// same ids and mask (B,Tq); the first embeds ids, the others start from in
// (B·Tq,C), what the previous stage returned. The last stage returns the
// logits of each row's last new position (B,V/TP); the others their output
// (B·Tq,C), for the next stage. The buffer is overwritten by the next call.
func (m *Model) DecodeStage(c *Cache, ids, mask []int32, in npu.Buf) (npu.Buf, error) {
	return m.decodeStage(c, ids, mask, in, false)
}

// ScoreStage is DecodeStage (mask nil) with the head on every new
// position: the last stage returns the logits (B·Tq,V/TP) of every row's
// every new position, those of position t scoring the token after it
// (how a prompt's tokens get their log-probabilities).
func (m *Model) ScoreStage(c *Cache, ids []int32, in npu.Buf) (npu.Buf, error) {
	return m.decodeStage(c, ids, nil, in, true)
}

// decodeStage is DecodeStage, with the head on every new position when
// every is set.
func (m *Model) decodeStage(c *Cache, ids, mask []int32, in npu.Buf, every bool) (npu.Buf, error) {
	Tq := len(ids) / c.B
	if Tq == 0 || len(ids) != c.B*Tq || mask != nil && len(mask) != len(ids) {
		return nil, fmt.Errorf("%w: %d ids (and %d mask values) for %d rows", ErrInput, len(ids), len(mask), c.B)
	}
	if len(c.k) != m.Part.Layers {
		return nil, fmt.Errorf("%w: a cache of %d blocks for a part of %d", ErrInput, len(c.k), m.Part.Layers)
	}
	if c.Len+Tq > c.Cap {
		return nil, fmt.Errorf("%w: %d positions exceed the cache capacity %d", ErrInput, c.Len+Tq, c.Cap)
	}
	if m.Part.Embed {
		if err := (Batch{B: c.B, T: Tq, IDs: ids}).Validate(m.Cfg.Vocab); err != nil {
			return nil, err
		}
	} else if in == nil || in.Len() != c.B*Tq*m.Cfg.Hidden {
		return nil, fmt.Errorf("%w: a stage after the first needs the previous stage's (%d×%d) output", ErrInput, c.B*Tq, m.Cfg.Hidden)
	}
	a := c.step[Tq]
	if a == nil {
		a = newActs(m.Dev, m.Cfg, m.Part, c.B, Tq, c.Cap, npu.F32, false, false, nil)
		for l := range a.blocks {
			a.blocks[l].k, a.blocks[l].v = c.k[l], c.v[l]
			if c.paged != nil {
				a.blocks[l].paged = c.paged[l]
			}
		}
		c.step[Tq] = a
	}
	t0 := c.Len
	Tk := t0 + Tq
	full := make([]int32, c.B*Tk) // the mask over all positions so far, (B,Tk)
	for b := 0; b < c.B; b++ {
		for t := 0; t < Tq; t++ {
			v := int32(1)
			if mask != nil {
				v = mask[b*Tq+t]
			}
			c.mask[b*c.Cap+t0+t] = v
		}
		copy(full[b*Tk:(b+1)*Tk], c.mask[b*c.Cap:b*c.Cap+Tk])
	}
	if !slices.Contains(full, 0) {
		// No padding: attention without a mask, the same numbers (ALiBi
		// counts every key either way) by the devices' unmasked paths.
		full = nil
	}
	if !m.Part.Embed {
		m.Dev.Copy(a.x0, in)
	}
	a.hook = c.hook
	head := c.B
	if c.head > 0 && c.head < c.B {
		head = c.head
	}
	if every {
		head = c.B * Tq
	}
	if err := m.forwardLast(a, ids, full, t0, head, every); err != nil {
		return nil, err
	}
	c.Len = Tk
	if !m.Part.Head {
		return a.out(), nil
	}
	return a.logits.Slice(0, head*m.tp.vocab), nil
}

// forwardLast is forward, but the head runs only on the last position of
// each of the first head rows (every: on every position of every row).
func (m *Model) forwardLast(a *acts, ids, mask []int32, t0, head int, every bool) error {
	c, d, p := m.Cfg, m.dev, m.Part
	N, C := a.B*a.Tq, c.Hidden
	a.Tk, a.mask = t0+a.Tq, mask
	if p.Embed {
		if err := embeddingForward(d, &m.tp, a.x0, a.x0Mean, a.x0Rstd, a.emb, m.W.WTE, m.W.EmbLNW, m.W.EmbLNB, ids, N, C, c.Eps); err != nil {
			return err
		}
	}
	x := a.x0
	for l := range a.blocks {
		ba := &a.blocks[l]
		if a.hook != nil {
			a.hook(l, false)
		}
		if err := attentionForward(d, c, &m.tp, &m.W.Blocks[l], ba, a.proj, x, m.shape(a), t0); err != nil {
			return err
		}
		if a.hook != nil {
			a.hook(l, true)
		}
		if err := mlpForward(d, c, &m.tp, &m.W.Blocks[l], ba, a.proj, nil, N); err != nil { // a cache keeps float32
			return err
		}
		x = ba.res2
	}
	if !p.Head {
		return nil
	}
	if every {
		headForward(d, c, &m.tp, &m.W, a, x, N)
		return nil
	}
	// Rows b·Tq+Tq−1 of x are the last positions: gather them, then the head.
	last := a.proj.Slice(0, head*C)
	for b := range head {
		r := (b*a.Tq + a.Tq - 1) * C
		d.Copy(last.Slice(b*C, C), x.Slice(r, C))
	}
	headForward(d, c, &m.tp, &m.W, a, last, head)
	return nil
}

// GenerateOptions control Generate.
type GenerateOptions struct {
	MaxNew int // new tokens per row
	EOS    int // stop a row after this token; negative = never stop
	// Pick chooses the next token of row from its logits (V). It may keep
	// neither slice.
	Pick func(row int, logits []float32) int32
}

// Generate continues each prompt (rows may differ in length; they are left
// padded with pad) and returns the new tokens of every row.
func (m *Model) Generate(prompts [][]int32, pad int32, o GenerateOptions) ([][]int32, error) {
	B, Tp := len(prompts), 0
	for _, p := range prompts {
		Tp = max(Tp, len(p))
	}
	if B == 0 || Tp == 0 {
		return nil, fmt.Errorf("%w: empty prompt", ErrInput)
	}
	ids, mask := make([]int32, B*Tp), make([]int32, B*Tp)
	for b, p := range prompts {
		off := Tp - len(p)
		for t := 0; t < Tp; t++ {
			ids[b*Tp+t], mask[b*Tp+t] = pad, 0
			if t >= off {
				ids[b*Tp+t], mask[b*Tp+t] = p[t-off], 1
			}
		}
	}
	c := m.NewCache(B, Tp+o.MaxNew)
	out := make([][]int32, B)
	done := make([]bool, B)
	host := make([]float32, B*m.Cfg.Vocab)
	for step := 0; step < o.MaxNew; step++ {
		logits, err := m.Decode(c, ids, mask)
		if err != nil {
			return nil, err
		}
		m.Dev.Read(host, logits)
		ids, mask = ids[:B], nil
		live := false
		for b := range B {
			next := o.Pick(b, host[b*m.Cfg.Vocab:(b+1)*m.Cfg.Vocab])
			if !done[b] {
				out[b] = append(out[b], next)
				done[b] = o.EOS >= 0 && int(next) == o.EOS
			}
			live = live || !done[b]
			ids[b] = next
		}
		if !live {
			break
		}
	}
	return out, nil
}

// LoadRow puts the sequence src holds (its one row, src.Len positions) into
// row of c, ending at c's current position: its keys and values go to
// positions [c.Len−src.Len, c.Len) and every earlier position of the row is
// masked out, so the row attends to that sequence alone, at the same
// relative positions as in src (ALiBi counts unmasked keys). It is how a
// request joins a running batch at a token boundary: prefill it alone, then
// load it into a free row. c and src must come from m; c.Len ≥ src.Len.
func (m *Model) LoadRow(c *Cache, row int, src *Cache) error {
	if src.B != 1 || row < 0 || row >= c.B || src.Len > c.Len || len(src.k) != len(c.k) {
		return fmt.Errorf("%w: load a 1-row cache of %d positions into row %d of %d at position %d", ErrInput, src.Len, row, c.B, c.Len)
	}
	nh, hd := m.tp.heads, m.Cfg.HeadDim()
	at := c.Len - src.Len
	for l := range c.k {
		for h := range nh {
			dst := ((row*nh+h)*c.Cap + at) * hd
			from := h * src.Cap * hd
			m.Dev.Copy(c.k[l].Slice(dst, src.Len*hd), src.k[l].Slice(from, src.Len*hd))
			m.Dev.Copy(c.v[l].Slice(dst, src.Len*hd), src.v[l].Slice(from, src.Len*hd))
		}
	}
	mask := c.mask[row*c.Cap : (row+1)*c.Cap]
	clear(mask[:at])
	copy(mask[at:c.Len], src.mask[:src.Len])
	return nil
}

// Reset empties c: no positions, every row free.
func (c *Cache) Reset() {
	c.Len = 0
	clear(c.mask)
}

// Rows is a view of c's first n rows: the same keys, values and mask
// memory, n rows wide, at c's position. Decoding on the view advances only
// the view (copy its Len back with SetLen); the other rows are left as
// they are. It lets a batch with free rows decode only its live ones,
// kept first.
func (m *Model) Rows(c *Cache, n int) *Cache {
	if n == c.B {
		return c
	}
	per := c.Cap * m.tp.attn
	v := &Cache{B: n, Cap: c.Cap, Len: c.Len, mask: c.mask[:n*c.Cap], step: map[int]*acts{}}
	for l := range c.k {
		v.k = append(v.k, c.k[l].Slice(0, n*per))
		v.v = append(v.v, c.v[l].Slice(0, n*per))
	}
	return v
}

// MoveRow copies row src of c (keys, values and mask of every position so
// far) into row dst, leaving src as it was.
func (m *Model) MoveRow(c *Cache, dst, src int) {
	if dst == src {
		return
	}
	per := c.Cap * m.tp.attn // a row's values of one block
	for l := range c.k {
		m.Dev.Copy(c.k[l].Slice(dst*per, per), c.k[l].Slice(src*per, per))
		m.Dev.Copy(c.v[l].Slice(dst*per, per), c.v[l].Slice(src*per, per))
	}
	copy(c.mask[dst*c.Cap:(dst+1)*c.Cap], c.mask[src*c.Cap:(src+1)*c.Cap])
}
