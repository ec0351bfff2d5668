// Package jobspec is a training job as a user states it: the Spec that Raft
// stores (coord.Job.Spec) and every worker reads, named with the seed's
// Megatron flags (--tensor-model-parallel-size, --micro-batch-size, ...).
//
// It owns:
//   - Spec, its defaults (Default) and its JSON wire form (Marshal, Decode);
//   - the table of settings (Fields): one Field per Megatron flag, which is
//     at once a `bloomctl submit pretrain` flag and a key of a job file;
//   - job files (LoadFile, ParseFile): YAML (a small subset, yaml.go) or
//     JSON, with `name` and `config` (a Hugging Face config.json);
//   - the checks a spec passes alone (Validate) and the data-parallel size
//     resolved against a device count (ResolveLayout). Placement against the
//     cluster's devices is the daemon's.
//
// Every error wraps ErrInvalid and says what to change. It is pure: no
// network, no clocks; only job files and config.json are read.
//
// It may import trainer/bloom (the model shapes and presets) and ckpt (the
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
