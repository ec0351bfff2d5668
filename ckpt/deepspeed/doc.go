// Package deepspeed reads and writes BLOOM checkpoints in the layouts of
// DeepSpeed's pipeline engine, as AscendSpeed and Megatron-DeepSpeed use
// them (the seed's layout): a save directory whose "latest" names a tag
// folder holding one layer_NN-model_TT-model_states.pt per pipeline spec
// index NN (1 the embedding, i+3 block i, L+4 the final norm) and
// tensor-parallel rank TT, each that rank's part of the layer's state dict,
// plus mp_rank_NN_model_states.pt with the client state (iteration,
// consumed samples, LR scheduler, Megatron's args); the seed converter's
// own output, release/mp_rank_{pp·TP+tp}_model_states.pt with each rank's
// weights under module.module (read only; TP and PP recovered from the
// files); a training save's ZeRO stage 0–2 optimizer shards
// (zero_pp_rank_D_mp_rank_NN_optim_states.pt: flat fp32 master partitions
// and Adam moments per group, cut back into parameters by the
// param_shapes of the mp_rank files; Checkpoint.OpenOptimizer); and
// DeepSpeed's universal checkpoints (zero/<param>/
// {fp32,exp_avg,exp_avg_sq}.pt).
//
// It owns the name mapping between Hugging Face BLOOM names and layer-file
// keys, and how tensor parallelism cuts each tensor, per the seed's
// converter (bloom.md §2): query_key_value, dense_h_to_4h and the
// embedding are cut along dim 0, the attention's dense and dense_4h_to_h
// weights along dim 1, the rest is replicated; the embedding is padded to
// a multiple of --make-vocab-size-divisible-by·TP rows with copies of its
// last rows. Reading joins the parts back (replicated parts that differ
// are averaged, as transformers' converter does) and cuts the padding
// off when the client state says what the vocabulary was.
//
// It reads .pt files through ckpt (OpenTorch, WriteTorch) and imports
// nothing else of the project; the trainer and the CLI map its tensors to
// models. Memory: a writer holds one whole tensor and one part at a time
// (Write); a reader holds one tensor's parts and the joined tensor
// (Checkpoint.Float32).
//
// Usage:
//
//	h, _ := ckpt.OpenHF("bloom-7b1")
//	err := deepspeed.Write("out", h, h.Config, deepspeed.Layout{TP: 8, PP: 1}, deepspeed.WriteOptions{})
//	c, _ := deepspeed.Open("out", ckpt.BloomConfig{})
//	emb, shape, _ := c.Float32("word_embeddings.weight")
package deepspeed
