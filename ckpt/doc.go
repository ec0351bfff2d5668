// Package ckpt reads and writes model weights on disk: safetensors files and
// Hugging Face BLOOM model directories (config.json plus single-file or
// sharded safetensors with model.safetensors.index.json).
//
// It owns the safetensors format (open, validate, convert, write), the
// conversions between float32 and F16/BF16 (round to nearest even), the
// BLOOM config.json, and the native sharded checkpoint format (native.go):
// one directory per step, one safetensors shard per model-parallel rank, and
// a manifest (layout, step, consumed samples, LR position, RNG states, every
// shard's SHA-256) whose presence marks the checkpoint committed; readers
// load only committed checkpoints and verify each shard before they use it
// (a rank reads only the shards its tensors live in). It does no
// math on the weights and does not know how a layout cuts tensors (it
// records the layout's sizes); the trainer maps names to its flat parameter
// buffers and reshards.
//
// A safetensors file is an 8-byte little-endian header size N, N bytes of
// UTF-8 JSON (possibly padded with spaces), then the data section. The header
// maps each tensor name to {"dtype", "shape", "data_offsets": [begin, end]},
// offsets relative to the data section, plus an optional "__metadata__"
// string map. OpenSafetensors rejects, with errors that name the file and wrap
// ErrCorrupt, ErrDType or ErrNotFound, anything that breaks the format: a
// short file, a header larger than 100 MB or past the end of the file, JSON
// that is not one object, duplicate keys, an entry missing a field, an unknown
// dtype, negative or overflowing dimensions, offsets out of range or reversed,
// a byte count that does not match the shape, and offsets that overlap or
// leave bytes of the data section unused. Bad input never panics; the parser
// is fuzzed (FuzzOpenSafetensors).
//
// Files are memory-mapped read-only on Linux and read with ReadAt elsewhere;
// every read returns a fresh slice the caller owns. Writes are atomic (a
// temporary file in the same directory, fsync, rename, fsync of the directory).
//
// It also reads and writes PyTorch's zip-pickle .pt files (torch.save since
// 1.6), limited to what DeepSpeed and Megatron checkpoints hold (torchpt.go,
// pickle.go): OpenTorch decodes the pickle without running code, into Go
// values (*Dict for dict, OrderedDict and argparse.Namespace; *TorchTensor
// for torch._utils._rebuild_tensor_v2 over Float, Half, BFloat16, Double
// and integer storages, read on demand, one tensor at a time); anything
// else fails with ErrUnsupported naming it, or with lenient reading stays
// an opaque *Object. WriteTorch writes dicts, lists, scalars and F32, F16,
// BF16 and I64 tensors as torch.save does, producing one tensor at a time.
//
// In a Hugging Face directory, names are normalized: a leading "transformer."
// is stripped, and lm_head.weight, tied to word_embeddings.weight in BLOOM, is
// left out of Names but readable when present.
//
// This package imports only the standard library and nothing of the project;
// it builds with CGO_ENABLED=0.
//
// Usage:
//
//	h, err := ckpt.OpenHF("bloom-560m")
//	if err != nil {
//		return err
//	}
//	defer h.Close()
//	emb, shape, err := h.Float32("word_embeddings.weight") // shape [250880 1024]
//	...
//	err = ckpt.SaveHF("out", h.Config, ckpt.BF16, tensors, 5<<30)
package ckpt
