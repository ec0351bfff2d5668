package bloom

import "bloom/npu"

// embeddingForward looks up ids (N) in wte (V,C) into emb (N,C) and applies
// the embedding layer norm into out (N,C), saving mean and rstd (N).
func embeddingForward(d npu.Device, out, mean, rstd, emb, wte, lnw, lnb npu.Buf, ids []int32, N, C int, eps float32) {
	d.EmbeddingForward(emb, wte, ids, C)
	d.LayerNormForward(out, mean, rstd, emb, lnw, lnb, N, C, eps)
}

// embeddingBackward adds the gradients of the layer norm and the lookup into
// dlnw, dlnb and dwte. dOut (N,C) is the gradient of the normed embeddings;
// dEmb (N,C) is scratch, overwritten.
func embeddingBackward(d npu.Device, dwte, dlnw, dlnb, dEmb, dOut, emb, lnw, mean, rstd npu.Buf, ids []int32, N, C int) {
	d.Fill(dEmb, 0)
	d.LayerNormBackward(dEmb, dlnw, dlnb, dOut, emb, lnw, mean, rstd, N, C)
	d.EmbeddingBackward(dwte, dEmb, ids, C)
}
