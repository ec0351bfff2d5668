package bloom

import "bloom/npu"

// Shapes below are for one rank of a Part: A = C/TP is the local attention
// width (NH/TP heads of HD), F = 4C/TP the local MLP width, V = Vocab/TP the
// local vocabulary rows. With the full model, A = C, F = 4C, V = Vocab.

// blockActs are the activations one block saves for its backward, for N = B·Tq
// rows. k and v are (B,NH/TP,Cap,HD): their own buffers in training (Cap = T),
// the KV cache in generation.
// The inputs of the linears (ln1, att, ln2, fchGelu, and the head's lnf)
// are linearIns: kept in half under half precision.
type blockActs struct {
	ln1              linearIn    // (N,C) query_key_value's input
	ln1Mean, ln1Rstd npu.Buf     // (N), (N)
	qkv              npu.Buf     // (N,3A)
	q                npu.Buf     // (B,NH/TP,Tq,HD)
	k, v             npu.Buf     // (B,NH/TP,Cap,HD)
	probs            npu.Buf     // (B,NH/TP,Tq,Tk)
	att              linearIn    // (N,A) attention output: the dense projection's input
	res1             npu.Buf     // (N,C) residual stream after attention
	ln2              linearIn    // (N,C) dense_h_to_4h's input
	ln2Mean, ln2Rstd npu.Buf     // (N), (N)
	fch              npu.Buf     // (N,F) before GELU
	fchGelu          linearIn    // (N,F) after GELU: dense_4h_to_h's input
	res2             npu.Buf     // (N,C) block output
	qkvU, denseU     npu.Buf     // (N,R) the adapters' A·x of query_key_value and dense; nil without one
	fcU, projU       npu.Buf     // (N,R) the same of dense_h_to_4h and dense_4h_to_h
	paged            *pagedLayer // decoding over pages in place: the layer's pool (nil otherwise)
}

// acts holds a forward pass over B rows of Tq new positions (of Tk in all)
// and a pointer to the scratch its backward needs. Buffers of layers the
// Part does not hold are nil.
type acts struct {
	B, Tq, Tk, Cap int
	keep           npu.DType // the type the linears' inputs are kept in (linearIn)
	mask           []int32   // (B,Tk) of the last forward; nil = no padding

	emb, x0Mean, x0Rstd npu.Buf // (N,C) embeddings; (N), (N) of their layer norm (first stage)
	x0                  npu.Buf // (N,C) the blocks' input: normed embeddings, or what the previous stage sent
	blocks              []blockActs
	lnf                 linearIn // (N,C) the head's input (last stage)
	lnfMean, lnfRstd    npu.Buf  // (N), (N)
	logits              npu.Buf  // (N,V); holds dlogits after a training step
	losses              npu.Buf  // (N)
	ceMax               npu.Buf  // (N) the vocab-parallel cross-entropy's row maxima (TP > 1)
	ceParts             npu.Buf  // (2N) its exp sums, then its target logits: one all-reduce sums both
	ceSum, ceTgt        npu.Buf  // (N) views of ceParts
	proj                npu.Buf  // (N,C) scratch: a projection before the residual add, and a linear's float32 input when only its half copy is kept

	bw   *backScratch            // shared by every acts of a model: one backward runs at a time
	hook func(l int, after bool) // the cache's, while it decodes (Cache.hook)
	// shared: the blocks share their activations but for their outputs
	// (Model.Recompute), in ws, which every slot of a pipeline stage
	// shares too.
	shared bool
	ws     *workSet
}

// workSet is the one block's worth of activations that every block of
// every slot works in under activation checkpointing; owner is the acts
// whose last block's activations it holds (after that acts' forward), nil
// once another forward or a backward has used it. A backward recomputes
// every block but the last, and the last too unless it is the owner.
type workSet struct {
	blockActs
	owner *acts
}

// backScratch is the memory a backward pass works in.
type backScratch struct {
	dres, dtmp npu.Buf // (N,C)
	dfch       npu.Buf // (N,F)
	// dfchG (N,F) is also, in a forward that keeps fchGelu in half only,
	// where GELU's float32 output goes before it is rounded: a forward
	// and a backward never run at once.
	dfchG      npu.Buf
	dqkv       npu.Buf // (N,3A)
	dq, dk, dv npu.Buf // (B,NH/TP,Tq,HD), (B,NH/TP,Cap,HD) ×2
	du         npu.Buf // (N,R) an adapter's gradient of A·x; nil without LoRA
	B, Tq, Cap int
}

// newActs allocates activations for B·Tq rows attending over up to Cap
// positions, the linears' inputs kept in keep's type (linearIn). With
// ownKV false, the caller sets every block's k and v. With
// shared (activation checkpointing), the blocks share one set of buffers
// but for their outputs (res2): a backward recomputes a block's forward;
// ws, when not nil, is that set from another acts of the same shape (the
// slots of a pipeline stage share one), else it is allocated.
func newActs(d npu.Device, c Config, p Part, B, Tq, Cap int, keep npu.DType, ownKV, shared bool, ws *workSet) *acts {
	N, C := B*Tq, c.Hidden
	a := &acts{B: B, Tq: Tq, Cap: Cap, keep: keep, x0: d.Alloc(N * C), proj: d.Alloc(N * C)}
	if p.Embed {
		a.emb, a.x0Mean, a.x0Rstd = d.Alloc(N*C), d.Alloc(N), d.Alloc(N)
	}
	if p.Head {
		a.logits, a.losses = d.Alloc(N*newLocal(c, p).vocab), d.Alloc(N)
		a.lnf, a.lnfMean, a.lnfRstd = newLinearIn(d, c, 0, keep, N*C), d.Alloc(N), d.Alloc(N)
		if p.TP > 1 {
			a.ceMax, a.ceParts = d.Alloc(N), d.Alloc(2*N)
			a.ceSum, a.ceTgt = a.ceParts.Slice(0, N), a.ceParts.Slice(N, N)
		}
	}
	a.blocks, a.shared = make([]blockActs, p.Layers), shared
	if shared && p.Layers > 0 {
		if ws == nil {
			ws = &workSet{blockActs: newBlockActs(d, c, p, B, Tq, Cap, keep, ownKV)}
		}
		a.ws = ws
	}
	for i := range a.blocks {
		b := &a.blocks[i]
		if shared {
			*b = a.ws.blockActs     // the same memory
			b.res2 = d.Alloc(N * C) // but its own output: the next block's input
			continue
		}
		*b = newBlockActs(d, c, p, B, Tq, Cap, keep, ownKV)
		b.res2 = d.Alloc(N * C)
	}
	return a
}

// newBlockActs allocates one block's activations but for its output.
func newBlockActs(d npu.Device, c Config, p Part, B, Tq, Cap int, keep npu.DType, ownKV bool) blockActs {
	N, C, lc := B*Tq, c.Hidden, newLocal(c, p)
	var b blockActs
	b.ln1, b.ln1Mean, b.ln1Rstd = newLinearIn(d, c, LoRAQKV, keep, N*C), d.Alloc(N), d.Alloc(N)
	b.qkv, b.q = d.Alloc(3*N*lc.attn), d.Alloc(N*lc.attn)
	if ownKV {
		b.k, b.v = d.Alloc(B*Cap*lc.attn), d.Alloc(B*Cap*lc.attn)
	}
	b.probs = d.Alloc(B * lc.heads * Tq * Cap)
	b.att, b.res1 = newLinearIn(d, c, LoRADense, keep, N*lc.attn), d.Alloc(N*C)
	b.ln2, b.ln2Mean, b.ln2Rstd = newLinearIn(d, c, LoRAFC, keep, N*C), d.Alloc(N), d.Alloc(N)
	b.fch, b.fchGelu = d.Alloc(N*lc.ff), newLinearIn(d, c, LoRAProj, keep, N*lc.ff)
	b.qkvU, b.denseU = adapterActs(d, c, LoRAQKV, N), adapterActs(d, c, LoRADense, N)
	b.fcU, b.projU = adapterActs(d, c, LoRAFC, N), adapterActs(d, c, LoRAProj, N)
	return b
}

// adapterActs allocates the (N,R) an adapter of linear t saves, or returns
// nil when LoRA does not target t.
func adapterActs(d npu.Device, c Config, t LoRATarget, N int) npu.Buf {
	if c.LoRA.Targets&t == 0 {
		return nil
	}
	return d.Alloc(N * c.LoRA.R)
}

// out is the stage's output: the last block's, or its input when it has no
// blocks.
func (a *acts) out() npu.Buf {
	if L := len(a.blocks); L > 0 {
		return a.blocks[L-1].res2
	}
	return a.x0
}

// newBackScratch allocates the backward's memory for acts shaped like a.
func newBackScratch(d npu.Device, c Config, p Part, a *acts) *backScratch {
	N, C, lc := a.B*a.Tq, c.Hidden, newLocal(c, p)
	var du npu.Buf
	if c.LoRA.On() {
		du = d.Alloc(N * c.LoRA.R)
	}
	return &backScratch{B: a.B, Tq: a.Tq, Cap: a.Cap, du: du,
		dres: d.Alloc(N * C), dtmp: d.Alloc(N * C),
		dfch: d.Alloc(N * lc.ff), dfchG: d.Alloc(N * lc.ff),
		dqkv: d.Alloc(3 * N * lc.attn),
		dq:   d.Alloc(N * lc.attn), dk: d.Alloc(a.B * a.Cap * lc.attn), dv: d.Alloc(a.B * a.Cap * lc.attn)}
}

// fits reports whether s serves acts shaped like a.
func (s *backScratch) fits(a *acts) bool {
	return s != nil && s.B == a.B && s.Tq == a.Tq && s.Cap == a.Cap
}
