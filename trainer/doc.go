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
// The fp16 loss scaler (lossscale.go) is DeepSpeed's dynamic one, pure and
// not yet wired into the loop: each step will multiply its loss by
// Scale(), skip and count a step whose gradients hold an Inf or a NaN on
// any rank (Overflow finds them on one; the ranks agree through their
// Group), and call Update, which halves the scale (never below
// --min-loss-scale) once --hysteresis overflows have come since the last
// doubling and doubles it after --loss-scale-window clean iterations. The
// seed's Bloom-7B runs it from 2^12 with window 500, hysteresis 2 and
// minimum 1 (SeedLossScaleConfig). LossScaleState goes into checkpoints, so
// a resumed run scales and skips bit for bit as the uninterrupted one.
// DeepSpeed has two rules: DynamicLossScaler's (ZeRO 1–3; the default
// here) and the one its ZeRO-0 fp16 optimizers run (RuleFP16Optimizer: no
// hysteresis, a window of one more iteration); the seed's ZeRO-0 engine
// builds the latter.
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
