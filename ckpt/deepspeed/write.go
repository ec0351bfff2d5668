package deepspeed

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"

	"bloom/ckpt"
)

// ErrLayout is wrapped when a checkpoint or a requested layout does not fit
// the model (sizes that do not divide, missing layer files, unknown keys).
var ErrLayout = errors.New("deepspeed: layout does not fit")

// Source gives whole (unsharded) tensors by Hugging Face name; *ckpt.HF is
// one.
type Source interface {
	Names() []string
	Float32(name string) ([]float32, []int, error)
}

// evicter is a Source that can let go of a tensor's memory-mapped pages
// once read (ckpt.HF.Evict): Write then holds the tensor it is on, not
// every page of the source it has passed.
type evicter interface{ Evict(name string) }

// Layout is the parallel layout to write.
type Layout struct {
	TP, PP int
	// PartitionLayers is the number of blocks per pipeline stage (the
	// seed's --partition-layers); empty: the blocks split evenly, the
	// remainder to the first stages.
	PartitionLayers []int
}

// Stages returns the blocks per stage for an L-block model, checked.
func (l Layout) Stages(layers int) ([]int, error) {
	if l.TP < 1 || l.PP < 1 {
		return nil, fmt.Errorf("%w: TP %d, PP %d: both must be at least 1", ErrLayout, l.TP, l.PP)
	}
	if len(l.PartitionLayers) == 0 {
		if l.PP > layers {
			return nil, fmt.Errorf("%w: PP %d is more stages than the model's %d blocks", ErrLayout, l.PP, layers)
		}
		out := make([]int, l.PP)
		for i := range out {
			out[i] = layers / l.PP
			if i < layers%l.PP {
				out[i]++
			}
		}
		return out, nil
	}
	sum := 0
	for _, n := range l.PartitionLayers {
		sum += n
	}
	if len(l.PartitionLayers) != l.PP || sum != layers || slices.Min(l.PartitionLayers) < 1 {
		return nil, fmt.Errorf("%w: --partition-layers %v must have %d entries (PP), each at least 1, summing to the model's %d blocks",
			ErrLayout, l.PartitionLayers, l.PP, layers)
	}
	return slices.Clone(l.PartitionLayers), nil
}

// WriteOptions tune Write.
type WriteOptions struct {
	DType ckpt.DType // F32, F16 or BF16 (default F16, what the seed trains in)
	// Tag names the folder under the output directory and goes into its
	// "latest" file (default "release", which AscendSpeed loads as a model
	// without optimizer state, iteration 0).
	Tag string
	// DivisibleBy is --make-vocab-size-divisible-by (default 128): the
	// embedding is padded to a multiple of DivisibleBy·TP rows.
	DivisibleBy int
	// Progress, if not nil, is called before each tensor piece is written.
	Progress func(n, total int, file, key string)
}

// piece is one tensor of one layer file.
type piece struct {
	name string // HF name
	key  string // key in the layer file
}

// Write writes the model src (config cfg) to dir as a DeepSpeed pipeline
// checkpoint: dir/latest holding the tag, and in dir/<tag> one layer file
// per pipeline spec index and tensor-parallel rank, each that rank's part
// of the layer's state dict, cut as the seed's converter cuts it, plus one
// mp_rank_NN_model_states.pt per model-parallel rank (pp·TP+tp) holding
// the client state: module None (the weights are in the layer files),
// iteration 0, checkpoint_version 3.0, and the HF config and layout under
// "bloom_hf_config" and "bloom_layout" so that Read restores them.
//
// Memory: one whole tensor and one part of it at a time; each tensor is
// read from src once per tensor-parallel rank, and a source with an Evict
// method (ckpt.HF) is told after each read that the tensor's mapped pages
// may go.
func Write(dir string, src Source, cfg ckpt.BloomConfig, l Layout, o WriteOptions) error {
	if o.DType == "" {
		o.DType = ckpt.F16
	}
	if o.Tag == "" {
		o.Tag = "release"
	}
	if o.DivisibleBy == 0 {
		o.DivisibleBy = 128
	}
	if _, err := l.Stages(cfg.NLayer); err != nil {
		return err
	}
	if cfg.NHead%l.TP != 0 || cfg.HiddenSize%l.TP != 0 {
		return fmt.Errorf("%w: %d heads and hidden size %d must divide by TP %d", ErrLayout, cfg.NHead, cfg.HiddenSize, l.TP)
	}
	files, total, err := plan(src, cfg.NLayer)
	if err != nil {
		return err
	}
	out := filepath.Join(dir, o.Tag)
	if err := os.MkdirAll(out, 0o755); err != nil {
		return fmt.Errorf("deepspeed: %w", err)
	}
	padded := PaddedVocab(cfg.VocabSize, o.DivisibleBy, l.TP)
	n := 0
	for _, idx := range sortedKeys(files) {
		for tp := range l.TP {
			if err := writeLayer(out, idx, tp, files[idx], src, l.TP, padded, o, &n, total*l.TP); err != nil {
				return err
			}
		}
	}
	if err := writeClientState(out, cfg, l, padded); err != nil {
		return err
	}
	return writeLatest(dir, o.Tag)
}

// plan groups src's tensors by layer file and counts them.
func plan(src Source, layers int) (map[int][]piece, int, error) {
	files := map[int][]piece{}
	names := src.Names()
	for _, name := range names {
		idx, key, err := layerKey(name, layers)
		if err != nil {
			return nil, 0, err
		}
		files[idx] = append(files[idx], piece{name, key})
	}
	return files, len(names), nil
}

func sortedKeys(m map[int][]piece) []int {
	keys := make([]int, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func writeLayer(out string, idx, tp int, pieces []piece, src Source, tpSize, padded int, o WriteOptions, n *int, total int) error {
	file := LayerFileName(idx, tp)
	sd := ckpt.NewOrderedDict()
	for _, p := range pieces {
		shape, err := partShape(src, p, tpSize, padded)
		if err != nil {
			return err
		}
		sd.Set(p.key, ckpt.LazyTorchTensor(o.DType, shape, func() ([]float32, error) {
			*n++
			if o.Progress != nil {
				o.Progress(*n, total, file, p.key)
			}
			data, shape, err := src.Float32(p.name)
			if e, ok := src.(evicter); ok {
				e.Evict(p.name)
			}
			if err != nil {
				return nil, err
			}
			if p.key == "word_embeddings.weight" {
				data, shape = padRows(data, shape, padded)
			}
			part, _, err := shard(data, shape, splitOf(p.key), tpSize, tp)
			return part, err
		}))
	}
	if err := ckpt.WriteTorch(filepath.Join(out, file), sd, nil); err != nil {
		return fmt.Errorf("deepspeed: %s: %w", file, err)
	}
	return nil
}

// partShape is the shape of rank's part of p, from the source's metadata
// when it has it (ckpt.HF does), else by reading the tensor.
func partShape(src Source, p piece, tpSize, padded int) ([]int, error) {
	var shape []int
	if in, ok := src.(interface {
		Info(string) (ckpt.TensorInfo, bool)
	}); ok {
		if ti, ok := in.Info(p.name); ok {
			shape = slices.Clone(ti.Shape)
		}
	}
	if shape == nil {
		_, s, err := src.Float32(p.name)
		if err != nil {
			return nil, err
		}
		shape = s
	}
	if p.key == "word_embeddings.weight" && len(shape) == 2 && shape[0] < padded {
		shape[0] = padded
	}
	m, n := matrix(shape)
	switch splitOf(p.key) {
	case rows:
		if m%tpSize != 0 {
			return nil, fmt.Errorf("%w: %s: dim 0 of %v does not divide by TP %d", ErrLayout, p.name, shape, tpSize)
		}
		shape[0] /= tpSize
	case cols:
		if len(shape) != 2 || n%tpSize != 0 {
			return nil, fmt.Errorf("%w: %s: dim 1 of %v does not divide by TP %d", ErrLayout, p.name, shape, tpSize)
		}
		shape[1] /= tpSize
	}
	return shape, nil
}

func writeClientState(out string, cfg ckpt.BloomConfig, l Layout, padded int) error {
	stages, _ := l.Stages(cfg.NLayer)
	hf := ckpt.NewDict().
		Set("vocab_size", cfg.VocabSize).Set("hidden_size", cfg.HiddenSize).Set("n_layer", cfg.NLayer).
		Set("n_head", cfg.NHead).Set("layer_norm_epsilon", cfg.LayerNormEpsilon).
		Set("bos_token_id", cfg.BosTokenID).Set("eos_token_id", cfg.EOSTokenID).
		Set("pad_token_id", cfg.PadTokenID).Set("unk_token_id", cfg.UnkTokenID)
	for pp := range l.PP {
		for tp := range l.TP {
			cs := ckpt.NewDict().
				Set("module", nil).Set("buffer_names", []any{}).Set("optimizer", nil).Set("lr_scheduler", nil).
				Set("global_steps", 0).Set("global_samples", 0).Set("skipped_steps", 0).
				Set("dp_world_size", 1).Set("mp_world_size", l.TP*l.PP).
				Set("iteration", 0).Set("checkpoint_version", 3.0).
				Set("bloom_hf_config", hf).
				Set("bloom_layout", ckpt.NewDict().Set("tensor_model_parallel_size", l.TP).
					Set("pipeline_model_parallel_size", l.PP).Set("partition_layers", stages).
					Set("padded_vocab_size", padded).Set("tp_rank", tp).Set("pp_rank", pp))
			name := ModelStatesName(pp*l.TP + tp)
			if err := ckpt.WriteTorch(filepath.Join(out, name), cs, nil); err != nil {
				return fmt.Errorf("deepspeed: %s: %w", name, err)
			}
		}
	}
	return nil
}

// writeLatest writes DeepSpeed's "latest" and Megatron's
// "latest_checkpointed_iteration.txt" (AscendSpeed reads both).
func writeLatest(dir, tag string) error {
	it := tag
	if n, ok := stepOfTag(tag); ok {
		it = strconv.Itoa(n)
	}
	for name, text := range map[string]string{"latest": tag, "latest_checkpointed_iteration.txt": it} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text+"\n"), 0o644); err != nil {
			return fmt.Errorf("deepspeed: %w", err)
		}
	}
	return nil
}

// stepOfTag parses global_stepN.
func stepOfTag(tag string) (int, bool) {
	var n int
	if _, err := fmt.Sscanf(tag, "global_step%d", &n); err != nil {
		return 0, false
	}
	return n, true
}
