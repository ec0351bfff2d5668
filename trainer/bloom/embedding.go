package bloom

import "bloom/npu"

// embeddingForward looks up ids (N) in wte (V,C) into emb (N,C) and applies
// the embedding layer norm into out (N,C), saving mean and rstd (N). Under
// tensor parallelism wte holds this rank's vocabulary rows: ids elsewhere
// give zero rows, and the ranks' lookups are summed (Megatron's
// vocab-parallel embedding).
func embeddingForward(d npu.Device, tp *tensorPar, out, mean, rstd, emb, wte, lnw, lnb npu.Buf, ids []int32, N, C int, eps float32) error {
	if tp.comm == nil {
		d.EmbeddingForward(emb, wte, ids, C)
	} else {
		d.EmbeddingForwardRange(emb, wte, ids, tp.vlo, C)
		if err := tp.comm.AllReduceSum(emb); err != nil {
			return err
		}
	}
	d.LayerNormForward(out, mean, rstd, emb, lnw, lnb, N, C, eps)
	return nil
}

// embeddingBackward adds the gradients of the layer norm and the lookup into
// dlnw, dlnb and dwte (this rank's rows). dOut (N,C) is the gradient of the
// normed embeddings; dEmb (N,C) is scratch, overwritten.
func embeddingBackward(d npu.Device, tp *tensorPar, dwte, dlnw, dlnb, dEmb, dOut, emb, lnw, mean, rstd npu.Buf, ids []int32, N, C int) {
	d.Fill(dEmb, 0)
	d.LayerNormBackward(dEmb, dlnw, dlnb, dOut, emb, lnw, mean, rstd, N, C)
	if tp.comm == nil {
		d.EmbeddingBackward(dwte, dEmb, ids, C)
	} else {
		d.EmbeddingBackwardRange(dwte, dEmb, ids, tp.vlo, C)
	}
}
