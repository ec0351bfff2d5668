package bloom

import "bloom/npu"

// attentionForward runs the attention half of a block on x (N,C), N = B·Tq:
// res1 = x + dense(attn(qkv(ln1(x)))). The new keys and values land in
// a.k/a.v at time offset t0. Under tensor parallelism qkv is column-parallel
// (this rank's heads, with their slopes in s), dense is row-parallel: its
// partial products (N,C) are summed across ranks before the bias, which is
// added once.
func attentionForward(d npu.Device, c Config, tp *tensorPar, w *Block, a *blockActs, proj, x npu.Buf, s npu.AttentionShape, t0 int) error {
	N, C, A := s.B*s.Tq, c.Hidden, tp.attn
	d.LayerNormForward(a.ln1, a.ln1Mean, a.ln1Rstd, x, w.LN1W, w.LN1B, N, C, c.Eps)
	linearForward(d, a.qkv, a.ln1, w.QKVW, w.QKVB, N, C, 3*A)
	if ad := w.LoRA[0]; ad.A != nil {
		if err := loraForward(d, tp, ad, a.lora[0], a.qkv, a.ln1, N, C, 3*A, c.LoRA.R, c.LoRA.Scale(), false); err != nil {
			return err
		}
	}
	d.SplitQKV(a.q, a.k, a.v, a.qkv, s.B, s.Tq, s.NH, s.HD, s.Cap, t0)
	d.AttentionForward(a.att, a.probs, a.q, a.k, a.v, s)
	if err := rowParallelForward(d, tp, proj, a.att, w.AttnW, w.AttnB, N, A, C); err != nil {
		return err
	}
	if ad := w.LoRA[1]; ad.A != nil {
		if err := loraForward(d, tp, ad, a.lora[1], proj, a.att, N, A, C, c.LoRA.R, c.LoRA.Scale(), true); err != nil {
			return err
		}
	}
	d.Add(a.res1, x, proj, N*C)
	return nil
}

// attentionBackward takes dres = ∂L/∂res1 (N,C) and leaves ∂L/∂x in it (the
// residual path plus the path through the block), adding the weight
// gradients into g. x is the block input. The column-parallel qkv's input
// gradient is summed across tensor-parallel ranks before the layer norm.
func attentionBackward(d npu.Device, c Config, tp *tensorPar, w, g *Block, a *blockActs, s *backScratch, dres, x npu.Buf, sh npu.AttentionShape) error {
	N, C, A := sh.B*sh.Tq, c.Hidden, tp.attn
	datt := s.dtmp.Slice(0, N*A)
	linearBackward(d, datt, frozen(c, g.AttnW), frozen(c, g.AttnB), dres, a.att, w.AttnW, N, A, C, false)
	if ad := w.LoRA[1]; ad.A != nil {
		if err := loraBackward(d, tp, ad, g.LoRA[1], s.du, datt, dres, a.att, a.lora[1], N, A, C, c.LoRA.R, c.LoRA.Scale(), true); err != nil {
			return err
		}
	}
	d.Fill(s.dq, 0)
	d.Fill(s.dk, 0)
	d.Fill(s.dv, 0)
	d.AttentionBackward(s.dq, s.dk, s.dv, datt, a.q, a.k, a.v, a.probs, sh)
	d.Fill(s.dqkv, 0)
	d.MergeQKVBackward(s.dqkv, s.dq, s.dk, s.dv, sh.B, sh.Tq, sh.NH, sh.HD, sh.Cap, 0)
	linearBackward(d, s.dtmp, frozen(c, g.QKVW), frozen(c, g.QKVB), s.dqkv, a.ln1, w.QKVW, N, C, 3*A, false)
	if ad := w.LoRA[0]; ad.A != nil {
		if err := loraBackward(d, tp, ad, g.LoRA[0], s.du, s.dtmp, s.dqkv, a.ln1, a.lora[0], N, C, 3*A, c.LoRA.R, c.LoRA.Scale(), false); err != nil {
			return err
		}
	}
	if err := tp.sum(s.dtmp); err != nil {
		return err
	}
	d.LayerNormBackward(dres, g.LN1W, g.LN1B, s.dtmp, x, w.LN1W, a.ln1Mean, a.ln1Rstd, N, C)
	return nil
}
