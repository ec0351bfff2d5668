// Package bloom is the BLOOM model math: configuration and presets, one flat
// parameter buffer with named views, and the forward and backward passes
// layer by layer, on any npu.Device. It does no I/O.
//
// Config is the project's one model shape: checkpoint manifests and job
// specs carry its JSON (config.json's key names); ckpt.BloomConfig is only
// the config.json file, and trainer.ConfigFromHF turns one into the other.
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
// Under Megatron-style parallelism a rank holds a Part: the blocks of its
// pipeline stage (plus the embedding on the first, ln_f and the tied head on
// the last), each tensor cut to its tensor-parallel piece (qkv and
// dense_h_to_4h by rows, with whole heads and their ALiBi slopes; dense and
// dense_4h_to_h by columns, their outputs summed across ranks and the bias
// added once; the vocabulary split for the embedding and the cross-entropy;
// layer norms replicated). NewPart builds one with a TPComm that sums or
// maxes buffers across the tensor-parallel ranks; its flat buffer is laid
// out like the whole model's. A stage runs micro-batches in slots
// (PrepareSlots, ForwardSlot, BackwardSlot); moving activations between
// stages is the caller's job.
//
// A block's four linears are Linear values (linear.go) that know their
// tensor-parallel role (column- or row-parallel) and own their LoRA adapter,
// so attention and MLP call forward and backward on each without knowing
// whether it is adapted. Config.LoRA adds peft-style low-rank adapters to
// chosen linears of every block (lora.go): W·x + b + (Alpha/R)·B·A·x, laid
// out after their block's tensors and cut like their linear (a row-parallel
// linear's A by columns, its A·x summed across ranks; a column-parallel
// one's B by rows, the gradient of A·x summed across ranks); every other
// tensor is Frozen. MergeLoRA folds them into the base weights.
//
// Mixed precision (Model.SetPrecision) as Megatron-DeepSpeed trains BLOOM
// with --fp16 or --bf16, in the manner of torch.autocast: the parameters
// stay float32 (they are the optimizer's master weights) and every matrix
// product of a linear layer and of the tied head rounds both of its
// operands to the half type as they enter it, then multiplies and sums in
// float32. Everything else keeps float32. Which operation runs in which
// precision, and why:
//
//	operation                                   precision                          why
//	qkv, dense, h_to_4h, 4h_to_h, tied head:    operands half (weights rounded     what the cube / tensor cores compute;
//	  forward, input and weight gradients       from the fp32 master, activations  Megatron's fp16/bf16 linears
//	                                            and incoming gradients as they
//	                                            enter), fp32 products and sums
//	LoRA adapters' products                     fp32                               AscendSpeed keeps LoRA weights in fp32
//	                                                                               "to avoid overflow"
//	attention scores, softmax, probs·v          fp32 (fused kernel)                softmax in fp32 as Megatron's
//	                                                                               attention_softmax_in_fp32; the fused
//	                                                                               kernel has no half operands
//	layer norm (statistics, affine)             fp32                               Megatron's fused layer norm keeps
//	                                                                               its statistics in fp32
//	GELU, bias adds, residual adds              fp32                               elementwise; no product to speed up
//	embedding lookup                            fp32 (master rows)
//	cross entropy and the loss                  fp32                               logits are cast to fp32 first
//	weight gradients (accumulated across        fp32; the trainer rounds them to   DeepSpeed's fp16 gradients; BF16
//	  micro-batches)                            fp16 before the data-parallel      optimizer's fp32 accumulation
//	                                            reduction under --fp16
//	master weights, AdamW moments, update       fp32                               FP16_Optimizer / BF16_Optimizer
//
// Rounding is to nearest, ties to even (npu.Half.ToHalf); under fp16 a
// value beyond 65504 becomes ±Inf, which is how an overflowing scaled
// gradient shows up in the trainer's loss scaler — or, on a device that
// saturates instead (Ascend 910: ±65504, NaN 0), in its overflow flag
// (npu.OverflowFlagger), which the scaler asks every step. Where this departs from
// Megatron-DeepSpeed, whose model is all half tensors: q, k, v and the
// attention probabilities are not rounded before their products; the
// activations kept between layers, and sent between pipeline stages, are
// float32; layer-norm weights, biases and embedding rows are the float32
// master values, not their half copies.
//
// What the backward keeps of the forward is float32 too, but for the
// inputs of the four linears and of the tied head (linear.go's linearIn):
// the backward uses them only in the weight gradient's product, which
// rounds them to the half type anyway, so under half precision they are
// kept rounded, in half the bytes, and the products read them without
// rounding them again: the same numbers, bit for bit. A LoRA-adapted
// linear's input stays float32 (its adapter's products are float32).
//
//	m, _ := bloom.New(dev, bloom.Presets["bloom-tiny"])
//	m.InitRandom(42, 0.02)
//	loss := m.Step(batch, 1) // forward, loss, backward into m.Grads
//
// Imports: npu only. Loading weights from disk is ckpt's job; training loops,
// optimizers and schedules are trainer's.
package bloom
