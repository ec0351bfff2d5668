// Package bloom is the BLOOM model math: configuration and presets, one flat
// parameter buffer with named views, and the forward and backward passes
// layer by layer, on any npu.Device. It does no I/O.
//
// The numbers match Hugging Face BloomForCausalLM: ALiBi (with the rule for
// head counts that are not a power of two), layer norm on the embeddings,
// fused query_key_value laid out [n_head, 3, head_dim], pre-LN blocks, tanh
// GELU, float32 softmax, lm_head tied to the word embeddings, left padding.
//
// The forward order is listed once in model.go and walked back for the
// backward; each layer pair lives in its own file, shaped like llm.c:
// xxxForward(out, in, weights…) and xxxBackward(dIn, dWeights…, dOut, saved…),
// where backward adds into d-prefixed buffers.
//
//	m, _ := bloom.New(dev, bloom.Presets["bloom-tiny"])
//	m.InitRandom(42)
//	loss := m.Step(batch, 1) // forward, loss, backward into m.Grads
//
// Imports: npu only. Loading weights from disk is ckpt's job; training loops,
// optimizers and schedules are trainer's.
package bloom
