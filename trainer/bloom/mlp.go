package bloom

import "bloom/npu"

// mlpForward runs the MLP half of a block:
// res2 = res1 + dense_4h_to_h(gelu(dense_h_to_4h(ln2(res1)))).
func mlpForward(d npu.Device, c Config, w *Block, a *blockActs, proj npu.Buf, N int) {
	C := c.Hidden
	d.LayerNormForward(a.ln2, a.ln2Mean, a.ln2Rstd, a.res1, w.LN2W, w.LN2B, N, C, c.Eps)
	linearForward(d, a.fch, a.ln2, w.FCW, w.FCB, N, C, 4*C)
	d.GeluForward(a.fchGelu, a.fch, 4*N*C)
	linearForward(d, proj, a.fchGelu, w.ProjW, w.ProjB, N, 4*C, C)
	d.Add(a.res2, a.res1, proj, N*C)
}

// mlpBackward takes dres = ∂L/∂res2 (N,C) and leaves ∂L/∂res1 in it, adding
// the weight gradients into g.
func mlpBackward(d npu.Device, c Config, w, g *Block, a *blockActs, s *acts, dres npu.Buf, N int) {
	C := c.Hidden
	linearBackward(d, s.dfchG, g.ProjW, g.ProjB, dres, a.fchGelu, w.ProjW, N, 4*C, C, false)
	d.Fill(s.dfch, 0)
	d.GeluBackward(s.dfch, a.fch, s.dfchG, 4*N*C)
	linearBackward(d, s.dtmp, g.FCW, g.FCB, s.dfch, a.ln2, w.FCW, N, C, 4*C, false)
	d.LayerNormBackward(dres, g.LN2W, g.LN2B, s.dtmp, a.res1, w.LN2W, a.ln2Mean, a.ln2Rstd, N, C)
}
