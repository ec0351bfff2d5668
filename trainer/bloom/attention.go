package bloom

import "bloom/npu"

// attentionForward runs the attention half of a block on x (N,C), N = B·Tq:
// res1 = x + dense(attn(qkv(ln1(x)))). The new keys and values land in
// a.k/a.v at time offset t0 (and, decoding over pages, in their blocks:
// a.paged). Under tensor parallelism qkv is column-parallel
// (this rank's heads, with their slopes in s) and dense row-parallel
// (linear.go). proj (N,C) is scratch, also for the linears' float32 inputs
// when a keeps them in half only (linearIn).
func attentionForward(d npu.Device, c Config, tp *tensorPar, w *Block, a *blockActs, proj, x npu.Buf, s npu.AttentionShape, t0 int) error {
	N, C := s.B*s.Tq, c.Hidden
	ln1 := a.ln1.value(proj)
	d.LayerNormForward(ln1, a.ln1Mean, a.ln1Rstd, x, w.LN1W, w.LN1B, N, C, c.Eps)
	a.ln1.keep(d, ln1, N*C)
	if err := w.QKV.forward(d, tp, a.qkv, a.ln1, a.qkvU, N); err != nil {
		return err
	}
	d.SplitQKV(a.q, a.k, a.v, a.qkv, s.B, s.Tq, s.NH, s.HD, s.Cap, t0)
	att := a.att.value(proj)
	if a.paged != nil {
		a.paged.attend(a, att)
	} else {
		d.AttentionForward(att, a.probs, a.q, a.k, a.v, s)
	}
	a.att.keep(d, att, N*tp.attn)
	if err := w.Dense.forward(d, tp, proj, a.att, a.denseU, N); err != nil {
		return err
	}
	d.Add(a.res1, x, proj, N*C)
	return nil
}

// attentionBackward takes dres = ∂L/∂res1 (N,C) and leaves ∂L/∂x in it (the
// residual path plus the path through the block), adding the weight
// gradients into g. x is the block input.
func attentionBackward(d npu.Device, c Config, tp *tensorPar, w, g *Block, a *blockActs, s *backScratch, dres, x npu.Buf, sh npu.AttentionShape) error {
	N, C := sh.B*sh.Tq, c.Hidden
	datt := s.dtmp.Slice(0, N*tp.attn) // (N,A)
	if err := w.Dense.backward(d, tp, &g.Dense, datt, dres, a.att, a.denseU, s.du, N); err != nil {
		return err
	}
	d.Fill(s.dq, 0)
	d.Fill(s.dk, 0)
	d.Fill(s.dv, 0)
	d.AttentionBackward(s.dq, s.dk, s.dv, datt, a.q, a.k, a.v, a.probs, sh)
	d.Fill(s.dqkv, 0)
	d.MergeQKVBackward(s.dqkv, s.dq, s.dk, s.dv, sh.B, sh.Tq, sh.NH, sh.HD, sh.Cap, 0)
	if err := w.QKV.backward(d, tp, &g.QKV, s.dtmp, s.dqkv, a.ln1, a.qkvU, s.du, N); err != nil {
		return err
	}
	d.LayerNormBackward(dres, g.LN1W, g.LN1B, s.dtmp, x, w.LN1W, a.ln1Mean, a.ln1Rstd, N, C)
	return nil
}
