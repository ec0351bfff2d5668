package bloom

import "bloom/npu"

// headForward applies the final layer norm to x (N,C) and the tied lm_head:
// logits (N,V) = ln_f(x)·wteᵀ, V being this rank's vocabulary rows. a.proj
// is scratch for ln_f's output when a keeps it in half only.
func headForward(d npu.Device, c Config, tp *tensorPar, w *Weights, a *acts, x npu.Buf, N int) {
	C, V := c.Hidden, tp.vocab
	lnf := a.lnf.value(a.proj)
	d.LayerNormForward(lnf, a.lnfMean, a.lnfRstd, x, w.LNFW, w.LNFB, N, C, c.Eps)
	a.lnf.keep(d, lnf, N*C)
	gemmIn(d, w.wtePacked, N, V, C, a.lnf, w.WTE, a.logits)
}

// headBackward takes dlogits (N,V) and sets dres (N,C) = ∂L/∂x, adding into
// the gradients of wte (the lm_head half) and ln_f. Under tensor parallelism
// the head is column-parallel: the ranks' input gradients are summed before
// the layer norm's backward.
func headBackward(d npu.Device, c Config, tp *tensorPar, w, g *Weights, a *acts, s *backScratch, dres, dlogits, x npu.Buf, N int) error {
	C, V := c.Hidden, tp.vocab
	d.Gemm(false, false, N, C, V, 1, dlogits, V, w.WTE, C, 0, s.dtmp, C)
	if !c.LoRA.On() { // the tied embeddings are frozen under LoRA
		gemmGradW(d, N, V, C, dlogits, a.lnf, g.WTE)
	}
	if err := tp.sum(s.dtmp); err != nil {
		return err
	}
	d.Fill(dres, 0)
	d.LayerNormBackward(dres, g.LNFW, g.LNFB, s.dtmp, x, w.LNFW, a.lnfMean, a.lnfRstd, N, C)
	return nil
}
