package bloom

import "bloom/npu"

// headForward applies the final layer norm to x (N,C) and the tied lm_head:
// logits (N,V) = ln_f(x)·wteᵀ.
func headForward(d npu.Device, c Config, w *Weights, a *acts, x npu.Buf, N int) {
	C := c.Hidden
	d.LayerNormForward(a.lnf, a.lnfMean, a.lnfRstd, x, w.LNFW, w.LNFB, N, C, c.Eps)
	d.Gemm(false, true, N, c.Vocab, C, 1, a.lnf, C, w.WTE, C, 0, a.logits, c.Vocab)
}

// headBackward takes dlogits (N,V) and sets dres (N,C) = ∂L/∂x, adding into
// the gradients of wte (the lm_head half) and ln_f.
func headBackward(d npu.Device, c Config, w, g *Weights, a *acts, dres, dlogits, x npu.Buf, N int) {
	C, V := c.Hidden, c.Vocab
	d.Gemm(false, false, N, C, V, 1, dlogits, V, w.WTE, C, 0, a.dtmp, C)
	d.Gemm(true, false, V, C, N, 1, dlogits, V, a.lnf, C, 1, g.WTE, C)
	d.Fill(dres, 0)
	d.LayerNormBackward(dres, g.LNFW, g.LNFB, a.dtmp, x, w.LNFW, a.lnfMean, a.lnfRstd, N, C)
}
