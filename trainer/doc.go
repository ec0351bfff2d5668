// Package trainer is one rank's training loop: micro-batches and gradient
// accumulation, gradient clipping, AdamW with weight decay off for biases and
// layer norms, Megatron's learning-rate schedule counted in samples, and
// loading and saving models through ckpt.
//
// It must not import collective, membership, raft or memberlist: what it needs
// from the network (gradient reduction, pipeline links) it declares as small
// interfaces that the daemon implements.
//
//	m, _ := trainer.LoadHF(dev, "bloom-560m/")
//	opt := trainer.NewAdamW(m, trainer.AdamWConfig{Beta1: 0.9, Beta2: 0.95, Eps: 1e-8, WeightDecay: 0.1})
//	loop := trainer.Local{Model: m, Opt: opt, Sched: sched, Data: src, ...}
//	loop.Run(ctx, func(s trainer.StepStats) { ... })
package trainer
