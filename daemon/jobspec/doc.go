// Package jobspec is a training job as a user states it: the Spec that Raft
// stores (coord.Job.Spec) and every worker reads, named with the seed's
// Megatron flags (--tensor-model-parallel-size, --micro-batch-size, ...).
//
// It owns:
//   - Spec, its defaults (Default) and its JSON wire form (Marshal, Decode);
//   - the table of settings (Fields): one Field per Megatron flag, which is
//     at once a `bloomctl submit pretrain` flag, a `bloomctl train --local`
//     flag (where it means something in one process) and a key of a job
//     file;
//   - job files (LoadFile, ParseFile): YAML (a small subset, yaml.go) or
//     JSON, with `name` and `config` (a Hugging Face config.json);
//   - the trainer's configuration the spec states (TrainConfig), the one
//     place Megatron's settings become trainer.RankConfig, for a worker's
//     rank and for `bloomctl train --local` alike;
//   - the checks a spec passes alone (Validate) and the data-parallel size
//     resolved against a device count (ResolveLayout). Placement against the
//     cluster's devices is the daemon's;
//   - the memory each rank needs (MemoryPlan, trainer/memplan's estimate).
//
// The defaults are one set for every command and file: Megatron's argparse
// defaults (AscendSpeed's megatron/arguments.py: Adam 0.9/0.999/1e-8,
// weight decay 0.01, clip-grad 1.0, init-method-std 0.02, seed 1234, linear
// decay to min-lr 0) where Megatron has one, but for logging every step and
// no validation unless asked (--log-interval 1, --eval-interval and
// --eval-iters 0, where Megatron's are 100, 1000 and 100); small values that
// train bloom-tiny where it has none (lr, batch sizes, seq-length). The seed's
// BLOOM scripts set their own values as flags, as a job carried over from
// them does. See Default.
//
// Every error wraps ErrInvalid and says what to change. It is pure: no
// network, no clocks; only job files and config.json are read.
//
// It may import trainer (its configuration types), trainer/bloom (the model
// shapes and presets), trainer/memplan (the memory plan) and ckpt (the
// config.json reader); never the daemon, Raft, gossip or the collective.
//
// Usage:
//
//	jf, err := jobspec.LoadFile("job.yaml")
//	err = jf.Spec.Set("train-iters", "200") // a flag, by its Megatron name
//	err = jf.Spec.ResolveLayout(devices)    // data-parallel size from the devices
//	raw, err := jf.Spec.Marshal()           // what Raft stores
//	spec, err := jobspec.Decode(raw)        // on a worker
package jobspec
