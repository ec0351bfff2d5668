package bloom

import "bloom/npu"

// blockActs are the activations one block saves for its backward, for N = B·Tq
// rows. k and v are (B,NH,Cap,HD): their own buffers in training (Cap = T),
// the KV cache in generation.
type blockActs struct {
	ln1, ln1Mean, ln1Rstd npu.Buf // (N,C), (N), (N)
	qkv                   npu.Buf // (N,3C)
	q                     npu.Buf // (B,NH,Tq,HD)
	k, v                  npu.Buf // (B,NH,Cap,HD)
	probs                 npu.Buf // (B,NH,Tq,Tk)
	att                   npu.Buf // (N,C) attention output before the dense projection
	res1                  npu.Buf // (N,C) residual stream after attention
	ln2, ln2Mean, ln2Rstd npu.Buf // (N,C), (N), (N)
	fch, fchGelu          npu.Buf // (N,4C) before and after GELU
	res2                  npu.Buf // (N,C) block output
}

// acts holds a forward pass over B rows of Tq new positions (of Tk in all) and
// the scratch its backward needs.
type acts struct {
	B, Tq, Tk, Cap int
	mask           []int32 // (B,Tk) of the last forward; nil = no padding

	emb, x0, x0Mean, x0Rstd npu.Buf // (N,C) embeddings, after their layer norm; (N), (N)
	blocks                  []blockActs
	lnf, lnfMean, lnfRstd   npu.Buf // (N,C), (N), (N)
	logits                  npu.Buf // (N,V); holds dlogits after a training step
	losses                  npu.Buf // (N)
	proj                    npu.Buf // (N,C) scratch: a projection before the residual add

	// Backward scratch, allocated on the first backward.
	dres, dtmp  npu.Buf // (N,C)
	dfch, dfchG npu.Buf // (N,4C)
	dqkv        npu.Buf // (N,3C)
	dq, dk, dv  npu.Buf // (B,NH,Tq,HD), (B,NH,Cap,HD) ×2
	hasBackward bool
}

// newActs allocates activations for B·Tq rows attending over up to Cap
// positions. With ownKV false, the caller sets every block's k and v.
func newActs(d npu.Device, c Config, B, Tq, Cap int, ownKV bool) *acts {
	N, C := B*Tq, c.Hidden
	a := &acts{B: B, Tq: Tq, Cap: Cap,
		emb: d.Alloc(N * C), x0: d.Alloc(N * C), x0Mean: d.Alloc(N), x0Rstd: d.Alloc(N),
		lnf: d.Alloc(N * C), lnfMean: d.Alloc(N), lnfRstd: d.Alloc(N),
		logits: d.Alloc(N * c.Vocab), losses: d.Alloc(N), proj: d.Alloc(N * C),
	}
	a.blocks = make([]blockActs, c.Layers)
	for i := range a.blocks {
		b := &a.blocks[i]
		b.ln1, b.ln1Mean, b.ln1Rstd = d.Alloc(N*C), d.Alloc(N), d.Alloc(N)
		b.qkv, b.q = d.Alloc(3*N*C), d.Alloc(N*C)
		if ownKV {
			b.k, b.v = d.Alloc(B*Cap*C), d.Alloc(B*Cap*C)
		}
		b.probs = d.Alloc(B * c.Heads * Tq * Cap)
		b.att, b.res1 = d.Alloc(N*C), d.Alloc(N*C)
		b.ln2, b.ln2Mean, b.ln2Rstd = d.Alloc(N*C), d.Alloc(N), d.Alloc(N)
		b.fch, b.fchGelu, b.res2 = d.Alloc(4*N*C), d.Alloc(4*N*C), d.Alloc(N*C)
	}
	return a
}

func (a *acts) allocBackward(d npu.Device, c Config) {
	if a.hasBackward {
		return
	}
	N, C := a.B*a.Tq, c.Hidden
	a.dres, a.dtmp = d.Alloc(N*C), d.Alloc(N*C)
	a.dfch, a.dfchG = d.Alloc(4*N*C), d.Alloc(4*N*C)
	a.dqkv = d.Alloc(3 * N * C)
	a.dq, a.dk, a.dv = d.Alloc(N*C), d.Alloc(a.B*a.Cap*C), d.Alloc(a.B*a.Cap*C)
	a.hasBackward = true
}
