package bloom

import "bloom/npu"

// attentionForward runs the attention half of a block on x (N,C), N = B·Tq:
// res1 = x + dense(attn(qkv(ln1(x)))). The new keys and values land in
// a.k/a.v at time offset t0.
func attentionForward(d npu.Device, c Config, w *Block, a *blockActs, proj, x npu.Buf, s npu.AttentionShape, t0 int) {
	N, C := s.B*s.Tq, c.Hidden
	d.LayerNormForward(a.ln1, a.ln1Mean, a.ln1Rstd, x, w.LN1W, w.LN1B, N, C, c.Eps)
	linearForward(d, a.qkv, a.ln1, w.QKVW, w.QKVB, N, C, 3*C)
	d.SplitQKV(a.q, a.k, a.v, a.qkv, s.B, s.Tq, s.NH, s.HD, s.Cap, t0)
	d.AttentionForward(a.att, a.probs, a.q, a.k, a.v, s)
	linearForward(d, proj, a.att, w.AttnW, w.AttnB, N, C, C)
	d.Add(a.res1, x, proj, N*C)
}

// attentionBackward takes dres = ∂L/∂res1 (N,C) and leaves ∂L/∂x in it (the
// residual path plus the path through the block), adding the weight
// gradients into g. x is the block input.
func attentionBackward(d npu.Device, c Config, w, g *Block, a *blockActs, s *acts, dres, x npu.Buf, sh npu.AttentionShape) {
	N, C := sh.B*sh.Tq, c.Hidden
	linearBackward(d, s.dtmp, g.AttnW, g.AttnB, dres, a.att, w.AttnW, N, C, C, false)
	d.Fill(s.dq, 0)
	d.Fill(s.dk, 0)
	d.Fill(s.dv, 0)
	d.AttentionBackward(s.dq, s.dk, s.dv, s.dtmp, a.q, a.k, a.v, a.probs, sh)
	d.Fill(s.dqkv, 0)
	d.MergeQKVBackward(s.dqkv, s.dq, s.dk, s.dv, sh.B, sh.Tq, sh.NH, sh.HD, sh.Cap, 0)
	linearBackward(d, s.dtmp, g.QKVW, g.QKVB, s.dqkv, a.ln1, w.QKVW, N, C, 3*C, false)
	d.LayerNormBackward(dres, g.LN1W, g.LN1B, s.dtmp, x, w.LN1W, a.ln1Mean, a.ln1Rstd, N, C)
}
