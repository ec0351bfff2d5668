package bloom

import "bloom/npu"

// mlpForward runs the MLP half of a block:
// res2 = res1 + dense_4h_to_h(gelu(dense_h_to_4h(ln2(res1)))). Under tensor
// parallelism dense_h_to_4h is column-parallel and dense_4h_to_h
// row-parallel (linear.go). proj (N,C) is scratch, and so is gelu (N,F),
// needed only when a keeps GELU's output in half only (nil otherwise).
func mlpForward(d npu.Device, c Config, tp *tensorPar, w *Block, a *blockActs, proj, gelu npu.Buf, N int) error {
	C, F := c.Hidden, tp.ff
	ln2 := a.ln2.value(proj)
	d.LayerNormForward(ln2, a.ln2Mean, a.ln2Rstd, a.res1, w.LN2W, w.LN2B, N, C, c.Eps)
	a.ln2.keep(d, ln2, N*C)
	if err := w.FC.forward(d, tp, a.fch, a.ln2, a.fcU, N); err != nil {
		return err
	}
	gelu = a.fchGelu.value(gelu)
	d.GeluForward(gelu, a.fch, N*F)
	a.fchGelu.keep(d, gelu, N*F)
	if err := w.Proj.forward(d, tp, proj, a.fchGelu, a.projU, N); err != nil {
		return err
	}
	d.Add(a.res2, a.res1, proj, N*C)
	return nil
}

// mlpBackward takes dres = ∂L/∂res2 (N,C) and leaves ∂L/∂res1 in it, adding
// the weight gradients into g.
func mlpBackward(d npu.Device, c Config, tp *tensorPar, w, g *Block, a *blockActs, s *backScratch, dres npu.Buf, N int) error {
	C, F := c.Hidden, tp.ff
	if err := w.Proj.backward(d, tp, &g.Proj, s.dfchG, dres, a.fchGelu, a.projU, s.du, N); err != nil {
		return err
	}
	d.Fill(s.dfch, 0)
	d.GeluBackward(s.dfch, a.fch, s.dfchG, N*F)
	if err := w.FC.backward(d, tp, &g.FC, s.dtmp, s.dfch, a.ln2, a.fcU, s.du, N); err != nil {
		return err
	}
	d.LayerNormBackward(dres, g.LN2W, g.LN2B, s.dtmp, a.res1, w.LN2W, a.ln2Mean, a.ln2Rstd, N, C)
	return nil
}
