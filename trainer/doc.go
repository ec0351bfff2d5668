// Package trainer is one rank's training loop: micro-batches and gradient
// accumulation, gradient clipping, AdamW with weight decay off for biases and
// layer norms, Megatron's learning-rate schedule counted in samples, and
// loading and saving models through ckpt.
//
// There is one loop, Rank's: one rank of a Megatron-style parallel job
// (rank = pp·DP·TP + dp·TP + tp: Layout is the one home of that
// numbering, for the daemon too). Local trains a whole model in this
// process as the one rank of a TP = PP = DP = 1 job, on a model and
// optimizer its caller built. A rank runs tensor parallelism inside its
// part of the model (column- and row-parallel linears, vocab-parallel
// embedding and cross-entropy; see trainer/bloom's Part), a pipeline stage
// running the 1F1B schedule of pipeline.go over --partition-layers, data
// parallelism with the gradients all-reduced in buckets while the backward
// goes on (dp.go), the tied embeddings' gradients summed between first and
// last stage, clipping by the norm over all ranks, and Megatron's sampler
// (replica dp takes the dp-th micro-batch of each MicroBatch·DP samples).
// The same seed, data and global batch give the same losses for every
// layout, to float rounding; every layout gives the same bits run after
// run, and a Local run the same bits as a parallel job of one rank.
//
// Checkpoints are ckpt's native format: data-parallel replica 0 writes one
// shard per rank (parameters and AdamW moments), a Committer commits the
// checkpoint once every shard is durable (the manifest is the commit mark),
// and --load resumes from the latest committed one bit for bit, resharding
// it when the layout changed; a Hugging Face directory can be the start. A
// resuming rank reads only the shards its tensors live in (CheckpointShards
// names them, so a node fetches only those), and LoadModel reassembles a
// native checkpoint of any layout into one whole model for the offline tools.
// Reshard rewrites a native checkpoint for another layout offline, optimizer
// state and training position included, and WriteNative writes one from
// whole tensors (the CLI's universal, Hugging Face and layer-file sources),
// so a job resumes either on its new layout as it resumes its own.
//
// LoRA fine-tuning is a model with Config.LoRA set (trainer/bloom): AdamW,
// the gradient norm and clipping see only the adapters, the rest stays
// frozen. Its --load is the base — a Hugging Face directory or a native
// checkpoint without adapters, of any layout: base weights loaded, adapters
// fresh, step 0 — or the job's own LoRA checkpoint, resumed exactly. Its
// checkpoints hold the adapters (and their AdamW moments) only, and name
// the base they apply to (lora_base), which must still be there to resume
// or export; SaveHF and LoadModel merge them.
//
// Mixed precision (RankConfig.Precision: --fp16, --bf16) keeps the
// parameters, gradients' accumulation, AdamW and its moments in float32 —
// the master weights — and has the model round the operands of its matrix
// products to the half type (trainer/bloom's precision table). Under bf16
// that is all: gradients are accumulated and reduced in float32, as BLOOM's
// BF16 optimizer does. Under fp16 a step runs as DeepSpeed's engine runs
// it: the loss is multiplied by the loss scale before the backward; the
// gradients are fp16 values (each rank rounds its own, and the
// data-parallel reduction sums them in fp16 through Group.AllReduceF16);
// a global norm that is not finite is an overflow, on which every rank
// agrees because every rank holds the same norm. The scaler (lossscale.go,
// DeepSpeed's: DynamicLossScaler's rule with hysteresis for ZeRO 1–3, the
// default; FP16_Optimizer's, without, for --zero-stage 0 as the seed runs)
// then moves the scale, an overflowing step is skipped (no AdamW step, no
// learning-rate step, its samples consumed, counted), and the others
// unscale and clip in one multiplication by the moved scale (DeepSpeed's
// order). The scaler's state and the learning-rate position go into
// checkpoints, so a resumed run scales, skips and counts bit for bit as the
// uninterrupted one. The seed's Bloom-7B settings (2^12, window 500,
// hysteresis 2, minimum 1) are the defaults.
//
// It must not import collective, membership, raft or memberlist: what it needs
// from the network it declares as small interfaces that the daemon implements
// (Group for all-reduces, StageLink for pipeline neighbours, Committer for
// checkpoint commits). Group reductions must give every member the same bits.
//
// The daemon's worker runs a rank:
//
//	cfg := trainer.DefaultRankConfig()
//	cfg.Model, cfg.Rank, cfg.TP, cfg.PP, cfg.DP = model, rank, 8, 12, 1
//	tp, dp, pp, embed := cfg.Groups() // the communicators' members
//	prev, next := cfg.Neighbours()    // the pipeline links' peers
//	err := trainer.Run(ctx, cfg, trainer.Env{Dev: dev, TP: tpComm, DP: dpComm, PP: ppComm,
//		Embed: embedComm, Prev: prevLink, Next: nextLink, Data: dataset,
//		Commit: coordinator, Report: progress})
//
// and one process trains alone with Local:
//
//	m, _, _ := trainer.LoadHF(dev, "bloom-560m/")
//	cfg := trainer.DefaultRankConfig() // or a job spec's TrainConfig()
//	cfg.MicroBatch, cfg.GlobalBatch, cfg.SeqLength, cfg.Steps = 4, 32, 512, 1000
//	loop := trainer.Local{Cfg: cfg, Model: m, Data: src} // AdamW from cfg.Adam
//	loop.Run(ctx, func(s trainer.StepStats) { ... })
package trainer
