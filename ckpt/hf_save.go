package ckpt

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
)

// SaveHF writes a Hugging Face BLOOM model directory that OpenHF and
// transformers both read: config.json, then the tensors (converted to dt, with
// names exactly as given) as model.safetensors, or, when their total size
// exceeds maxShardBytes > 0, as shards model-0000i-of-0000n.safetensors plus
// model.safetensors.index.json. Shards are filled in order, as transformers
// does: a tensor starts a new shard when it would overflow the current one,
// and a tensor larger than maxShardBytes gets a shard of its own. Every file
// carries the metadata {"format":"pt"} and is written atomically (config.json
// with torch_dtype naming dt); the index
// is written after the shards, and weights files of an earlier save that
// would now be stale are removed last. Each file is atomic, the directory as a
// whole is not: save a new checkpoint to a fresh directory and rename it when
// a crash must not leave a mix. It does not keep the slices. Tensors given
// by Load rather than Data are read one at a time as they are written, so
// memory is bounded by the largest tensor, not the model.
func SaveHF(dir string, cfg BloomConfig, dt DType, tensors []Tensor, maxShardBytes int64) error {
	if dt != F32 && dt != F16 && dt != BF16 {
		return errf(dir, ErrDType, "cannot save tensors as %q; use F32, F16 or BF16", dt)
	}
	seen := make(map[string]any, len(tensors))
	for _, t := range tensors {
		if err := checkTensor(t.Name, t.Shape, t.numel(), seen); err != nil {
			return wrapf(dir, ErrInvalid, err, "cannot save tensor %q", t.Name)
		}
		seen[t.Name] = true
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return ioErr(dir, err, "create directory")
	}
	// torch_dtype says what the weights are: transformers' "auto" loads
	// them as it says (a converted copy kept the source's value).
	cfg.Raw = maps.Clone(cfg.Raw)
	if cfg.Raw == nil {
		cfg.Raw = map[string]any{}
	}
	cfg.Raw["torch_dtype"] = map[DType]string{F32: "float32", F16: "float16", BF16: "bfloat16"}[dt]
	if err := cfg.WriteFile(filepath.Join(dir, ConfigName)); err != nil {
		return err
	}
	meta := map[string]string{"format": defaultSafetensorsFmt}
	shards, total := planShards(tensors, int64(dt.Size()), maxShardBytes)
	if len(shards) <= 1 {
		if err := WriteSafetensors(filepath.Join(dir, SafetensorsName), dt, tensors, nil, meta); err != nil {
			return err
		}
		return removeStale(dir, []string{SafetensorsName})
	}
	idx := sfIndex{Metadata: map[string]any{indexTotalSizeKey: total}, WeightMap: map[string]string{}}
	keep := []string{SafetensorsIndexName}
	for i, shard := range shards {
		name := fmt.Sprintf(safetensorsShardFmt, i+1, len(shards))
		if err := WriteSafetensors(filepath.Join(dir, name), dt, shard, nil, meta); err != nil {
			return err
		}
		for _, t := range shard {
			idx.WeightMap[t.Name] = name
		}
		keep = append(keep, name)
	}
	js, err := json.MarshalIndent(idx, "", "  ")
	if err != nil {
		return wrapf(dir, ErrInvalid, err, "encode index")
	}
	js = append(js, '\n')
	err = WriteAtomic(filepath.Join(dir, SafetensorsIndexName), func(w io.Writer) error {
		_, err := w.Write(js)
		return err
	})
	if err != nil {
		return err
	}
	return removeStale(dir, keep)
}

// planShards groups tensors, in order, into shards of at most max bytes each
// (max ≤ 0: one shard), and returns the total size in bytes.
func planShards(tensors []Tensor, elemSize, max int64) ([][]Tensor, int64) {
	var shards [][]Tensor
	var total, cur int64
	for _, t := range tensors {
		size := int64(t.numel()) * elemSize
		total += size
		if len(shards) == 0 || (max > 0 && cur+size > max) {
			shards = append(shards, nil)
			cur = 0
		}
		shards[len(shards)-1] = append(shards[len(shards)-1], t)
		cur += size
	}
	return shards, total
}

// removeStale deletes the weights files in dir that are not in keep: shards
// of an earlier save, or the single file or index of the other layout, so
// OpenHF cannot pick up stale weights.
func removeStale(dir string, keep []string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return ioErr(dir, err, "list directory")
	}
	for _, e := range entries {
		name := e.Name()
		shard, _ := filepath.Match(safetensorsShardGlob, name)
		if !shard && name != SafetensorsName && name != SafetensorsIndexName || slices.Contains(keep, name) {
			continue
		}
		p := filepath.Join(dir, name)
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return ioErr(p, err, "remove stale weights")
		}
	}
	return nil
}
