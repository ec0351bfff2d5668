package bloom

import "bloom/npu"

// mlpForward runs the MLP half of a block:
// res2 = res1 + dense_4h_to_h(gelu(dense_h_to_4h(ln2(res1)))). Under tensor
// parallelism dense_h_to_4h is column-parallel and dense_4h_to_h
// row-parallel, as in attentionForward.
func mlpForward(d npu.Device, c Config, tp *tensorPar, w *Block, a *blockActs, proj npu.Buf, N int) error {
	C, F := c.Hidden, tp.ff
	d.LayerNormForward(a.ln2, a.ln2Mean, a.ln2Rstd, a.res1, w.LN2W, w.LN2B, N, C, c.Eps)
	linearForward(d, a.fch, a.ln2, w.FCW, w.FCB, N, C, F)
	if ad := w.LoRA[2]; ad.A != nil {
		if err := loraForward(d, tp, ad, a.lora[2], a.fch, a.ln2, N, C, F, c.LoRA.R, c.LoRA.Scale(), false); err != nil {
			return err
		}
	}
	d.GeluForward(a.fchGelu, a.fch, N*F)
	if err := rowParallelForward(d, tp, proj, a.fchGelu, w.ProjW, w.ProjB, N, F, C); err != nil {
		return err
	}
	if ad := w.LoRA[3]; ad.A != nil {
		if err := loraForward(d, tp, ad, a.lora[3], proj, a.fchGelu, N, F, C, c.LoRA.R, c.LoRA.Scale(), true); err != nil {
			return err
		}
	}
	d.Add(a.res2, a.res1, proj, N*C)
	return nil
}

// mlpBackward takes dres = ∂L/∂res2 (N,C) and leaves ∂L/∂res1 in it, adding
// the weight gradients into g.
func mlpBackward(d npu.Device, c Config, tp *tensorPar, w, g *Block, a *blockActs, s *backScratch, dres npu.Buf, N int) error {
	C, F := c.Hidden, tp.ff
	linearBackward(d, s.dfchG, frozen(c, g.ProjW), frozen(c, g.ProjB), dres, a.fchGelu, w.ProjW, N, F, C, false)
	if ad := w.LoRA[3]; ad.A != nil {
		if err := loraBackward(d, tp, ad, g.LoRA[3], s.du, s.dfchG, dres, a.fchGelu, a.lora[3], N, F, C, c.LoRA.R, c.LoRA.Scale(), true); err != nil {
			return err
		}
	}
	d.Fill(s.dfch, 0)
	d.GeluBackward(s.dfch, a.fch, s.dfchG, N*F)
	linearBackward(d, s.dtmp, frozen(c, g.FCW), frozen(c, g.FCB), s.dfch, a.ln2, w.FCW, N, C, F, false)
	if ad := w.LoRA[2]; ad.A != nil {
		if err := loraBackward(d, tp, ad, g.LoRA[2], s.du, s.dtmp, s.dfch, a.ln2, a.lora[2], N, C, F, c.LoRA.R, c.LoRA.Scale(), false); err != nil {
			return err
		}
	}
	if err := tp.sum(s.dtmp); err != nil {
		return err
	}
	d.LayerNormBackward(dres, g.LN2W, g.LN2B, s.dtmp, a.res1, w.LN2W, a.ln2Mean, a.ln2Rstd, N, C)
	return nil
}
