// Package memplan estimates the device memory each rank of a BLOOM job
// needs before any of it runs: parameters, gradients, optimizer state and
// activations per pipeline stage, for a layout (TP, PP, DP, the stages'
// layers), a micro-batch, a sequence length, a precision, activation
// recomputation, LoRA and the 1F1B schedule. It is pure arithmetic: no
// devices, no I/O. The numbers are estimates, good to a small factor; they
// are for refusing a job that cannot fit, not for sizing allocators.
//
// It owns Job (what the plan needs of a job), Plan (bytes per stage and per
// rank) and the formulas below. It imports trainer/bloom only, for the
// parameter layout of a stage (bloom.NewPartLayout counts exactly the
// tensors a rank holds); never the trainer, the daemon or a device.
//
// # Parameters, gradients, optimizer state
//
// A rank of stage i holds the blocks of its stage cut to its tensor-parallel
// piece, the word embeddings (V/t rows) and their layer norm on the first
// stage, and ln_f and the tied head's copy of the word embeddings on the
// last (bloom.Part). Parameters counts them, LoRA adapters included.
// Weights are Parameters × the weight bytes; gradients and AdamW's two
// moments are kept for the trainable parameters only (under LoRA the
// adapters; the frozen base has neither, as peft and AscendSpeed keep it).
//
// Bytes per element, by precision. bloom's trainer (trainer/bloom's
// precision table) keeps float32 master weights and computes from them,
// rounding each matrix product's operands to the half type as they enter
// it, so it holds no half copy of the weights; its gradients are float32
// buffers (under fp16 holding fp16 values); AdamW's moments are float32;
// the activations kept for the backward are float32 at every precision,
// but for the inputs of the linears (and of the tied head) under fp16 and
// bf16: their backward only multiplies them, rounded to the half type, so
// bloom keeps them rounded, unless a LoRA adapter (float32 products) reads
// them. The plan uses bloom's column; Megatron-DeepSpeed's, which the seed
// runs, is beside it for comparison:
//
//	                    bloom (the plan)          Megatron-DeepSpeed
//	precision           fp32   fp16   bf16        fp32   fp16   bf16
//	weights             4      4      4           4      2+4    2+4    (half copy + fp32 master)
//	gradients           4      4      4           4      2      4      (BF16_Optimizer accumulates in fp32)
//	optimizer (m, v)    8      8      8           8      8      8
//	activations         4      4      4           4      2      2
//	linears' inputs     4      2      2           4      2      2      (a LoRA-adapted linear's: 4)
//	logits (cross ent.) 4      4      4           4      4      4
//
// So a trained parameter costs 16 bytes in bloom at every precision (14 of
// them in a checkpoint, AscendSpeed's figure, without the gradient).
//
// # Activations
//
// Korthikanti et al. 2022, "Reducing Activation Recomputation in Large
// Transformer Models" (arXiv 2205.05198), §4: one transformer layer keeps,
// for a micro-batch of b sequences of s tokens, hidden size h and a heads,
// in 16-bit elements (1-byte dropout masks):
//
//	s·b·h·(34 + 5·a·s/h)                        bytes, no parallelism
//	s·b·h·(10 + 24/t + 5·a·s/(h·t))             bytes, tensor parallel t, no sequence parallelism
//
// (attention 11·s·b·h + 5·a·s²·b, MLP 19·s·b·h, layer norms 4·s·b·h; the
// tensor-parallel form keeps the layer norms' inputs, the dropout masks
// and the inputs of the first linears whole). bloom does not split along
// the sequence (--sequence-parallel is accepted and changes nothing), so
// the second form is the one. With full recomputation (--checkpoint-
// activations) a layer keeps only its input, 2·s·b·h, and the stage needs
// one layer's full set while it recomputes that layer in the backward
// (counted once per stage). The embedding and the head add, per
// micro-batch: on the first stage the input of BLOOM's embedding layer
// norm, 2·s·b·h; on the last the inputs of ln_f and of the head, 2·s·b·h
// each, and the vocabulary-parallel logits in float32 for the cross
// entropy, 4·s·b·V/t. The 16-bit terms are scaled by the activation bytes
// over 2 (bloom keeps float32 activations: twice Megatron's), but for the
// linears' inputs, by their own bytes over 2: query_key_value's and
// dense_h_to_4h's 2·s·b·h each, dense's 2·s·b·h/t, dense_4h_to_h's
// 8·s·b·h/t, and the head's 2·s·b·h; the logits are float32 in both.
//
// Under 1F1B (trainer.OneFOneB) stage i of p has up to p−i micro-batches
// between their forward and backward (at most the M micro-batches of a
// step, M = global batch / (micro-batch · DP)), and keeps each one's
// activations: Activations = in-flight × (kept per micro-batch) + the
// recomputation working set.
//
// An inference job (Job.Inference) has no gradients, no optimizer state
// and keeps nothing between layers: one layer's working set, the logits of
// a micro-batch, and its key/value cache, 2·(layers)·KVTokens·(h/t)
// elements; a serving engine's own one-row caches (Job.EngineCaches) add
// 2·(layers)·s·(h/t) float32 elements each. Its matrices are counted twice: as loaded, and the copy the CPU
// device packs once for its products (bloom.Model.PackWeights: the blocks'
// linears and, on the last stage, the tied head; in the products' half type
// under fp16 and bf16, 2 bytes an element).
//
// # Where bloom's trainer allocates more than the plan
//
// Measured against what trainer/bloom and trainer allocate (the tests
// compare a tiny model's tensors with the plan):
//   - under LoRA, the gradient buffer and AdamW's moments span the whole
//     flat parameter buffer, frozen tensors included (16 bytes for every
//     parameter, not for the adapters only);
//   - a layer's kept activations are 4·(4 + 15/t)·s·b·h + 4·a·s²·b/t bytes
//     at fp32, (12 + 50/t)·s·b·h + 4·a·s²·b/t under fp16 and bf16 (bloom
//     keeps q, k, v and the qkv output apart, and no dropout masks)
//     against the plan's 2·(10 + 24/t)·s·b·h + 10·a·s²·b/t at fp32: more
//     for short sequences, less for long ones;
//   - the backward's scratch (about (2 + 14/t)·s·b·h floats, its
//     (s·b, 4h/t) also where the forward computes GELU's output before
//     rounding it), the half operands of the largest matrix product and
//     the pipeline's receive buffer are not counted.
//
// Usage:
//
//	p, err := memplan.New(memplan.Job{Model: bloom.Presets["bloom-7b1"], TP: 8, PP: 1, DP: 1,
//		MicroBatch: 4, SeqLength: 2048, MicroBatches: 128, Precision: memplan.FP16})
//	b := p.PerRank(0) // b.Total bytes on rank 0
package memplan
