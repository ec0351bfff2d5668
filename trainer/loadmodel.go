package trainer

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"bloom/ckpt"
	"bloom/npu"
	"bloom/trainer/bloom"
)

// LoadModel opens the weights in dir as one whole model on d, for the
// offline tools (generate, score, convert): a Hugging Face model directory
// (it has config.json), a committed native step directory (it has a
// manifest), or a native checkpoint root, whose latest committed step it
// takes. A native checkpoint of any tensor- and pipeline-parallel layout is
// reassembled and its LoRA adapters, if any, merged into the base weights;
// its optimizer state is left behind. The config is the
// directory's for Hugging Face, else the defaults with the model's shape.
func LoadModel(d npu.Device, dir string) (*bloom.Model, ckpt.BloomConfig, error) {
	return LoadModelProgress(d, dir, nil)
}

// LoadModelProgress is LoadModel, calling progress (when not nil) after
// each tensor read, with how many of how many are done: loading a large
// model takes a while.
func LoadModelProgress(d npu.Device, dir string, progress func(done, total int)) (*bloom.Model, ckpt.BloomConfig, error) {
	if _, err := os.Stat(filepath.Join(dir, "config.json")); err == nil {
		return loadHF(d, dir, progress)
	}
	step, err := stepDir(dir)
	if err != nil {
		return nil, ckpt.BloomConfig{}, fmt.Errorf("%s is neither a Hugging Face model directory (no config.json) nor a native checkpoint: %w", dir, err)
	}
	m, _, err := loadNative(d, step, progress)
	if err != nil {
		return nil, ckpt.BloomConfig{}, err
	}
	if m, err = bloom.MergeLoRA(m); err != nil {
		return nil, ckpt.BloomConfig{}, err
	}
	return m, withShape(ckpt.DefaultBloomConfig(), m.Cfg), nil
}

// ModelTokenizer is what the model in dir was trained on, as its native
// checkpoint records it (RankConfig.Tokenizer: ByteTokenizer or a
// tokenizer.json path), or "" for a Hugging Face directory or a checkpoint
// that does not say.
func ModelTokenizer(dir string) string {
	if _, err := os.Stat(filepath.Join(dir, "config.json")); err == nil {
		return ""
	}
	step, err := stepDir(dir)
	if err != nil {
		return ""
	}
	man, err := ckpt.ReadManifest(step)
	if err != nil {
		return ""
	}
	tr, err := trainerRecordOf(man, step)
	if err != nil {
		return ""
	}
	return tr.Tokenizer
}

// LoadNative reassembles the parameters of the committed native checkpoint
// in dir (a step directory) into one whole model on d, whatever layout
// wrote it. A LoRA checkpoint holds its adapters; the frozen weights come
// from the base it names (or the initialization it was trained from).
func LoadNative(d npu.Device, dir string) (*bloom.Model, error) {
	m, _, err := loadNative(d, dir, nil)
	return m, err
}

// loadNative is LoadNative, with the checkpoint's trainer record, calling
// progress (when not nil) after each tensor read.
func loadNative(d npu.Device, dir string, progress func(done, total int)) (*bloom.Model, trainerRecord, error) {
	n, src, cfg, err := openNative(dir)
	if err != nil {
		return nil, trainerRecord{}, err
	}
	src.progress = progress
	defer n.Close()
	if err := missingShards(n, dir); err != nil {
		return nil, trainerRecord{}, err
	}
	tr, err := trainerRecordOf(n.Manifest, dir)
	if err != nil {
		return nil, tr, err
	}
	var m *bloom.Model
	switch {
	case cfg.LoRA.On() && tr.LoRABase != "":
		base, _, err := LoadModel(d, tr.LoRABase)
		if err != nil {
			return nil, tr, fmt.Errorf("%s: its LoRA base: %w", dir, err)
		}
		if base.Cfg != withoutLoRA(cfg) {
			return nil, tr, fmt.Errorf("%w: %s: its LoRA base %s is a model of %+v", ErrMismatch, dir, tr.LoRABase, base.Cfg)
		}
		m, err = bloom.AddLoRA(base, cfg.LoRA, 0)
	default:
		if m, err = bloom.New(d, cfg); err == nil && cfg.LoRA.On() {
			m.InitMegatron(tr.Seed, tr.InitStd) // the frozen weights the run started from (NewRank's)
		}
	}
	if err != nil {
		return nil, tr, fmt.Errorf("%w: %s: %w", ErrMismatch, dir, err)
	}
	return m, tr, src.readInto(m, m.Params, ckptPrefixes[0], trainedTensor, dir)
}

// missingShards is the error for a checkpoint some of whose shards dir
// lacks, or nil.
func missingShards(n *ckpt.Native, dir string) error {
	if miss := n.Missing(); len(miss) > 0 {
		return fmt.Errorf("%w: %s lacks %d of the checkpoint's %d shards (%s): a cluster node keeps only its own ranks' shards; `bloomctl checkpoints fetch JOB --step %d --out DIR` gathers a step's shards from the nodes holding them",
			ckpt.ErrNotFound, dir, len(miss), len(n.Manifest.Shards), strings.Join(miss, ", "), n.Manifest.Step)
	}
	return nil
}

// ConvertModel writes the weights in dir (what LoadModel reads) to out as
// a Hugging Face model directory, the files SaveHF writes for the model
// LoadModel loads, byte for byte, and returns the config written. A
// Hugging Face directory (ConvertHF) and a native checkpoint without LoRA
// adapters stream: each tensor is read (a native one joined from the
// tensor-parallel pieces of the shards holding it), converted and written
// before the next, so memory holds one tensor, not the model; a LoRA
// checkpoint is loaded whole on d and merged. progress, when not nil, is
// called after each tensor read, with how many of how many.
func ConvertModel(d npu.Device, dir, out string, dt ckpt.DType, maxShardBytes int64, progress func(done, total int)) (ckpt.BloomConfig, error) {
	if _, err := os.Stat(filepath.Join(dir, "config.json")); err == nil {
		return ConvertHF(dir, out, dt, maxShardBytes, progress)
	}
	if step, err := stepDir(dir); err == nil {
		cfg, streamed, err := convertNative(step, out, dt, maxShardBytes, progress)
		if streamed || err != nil {
			return cfg, err
		}
	}
	m, cfg, err := LoadModelProgress(d, dir, progress)
	if err != nil {
		return cfg, err
	}
	return HFConfig(m, cfg), SaveHF(m, cfg, out, dt, maxShardBytes)
}

// convertNative writes the committed native checkpoint in the step
// directory dir to out as ConvertModel does, a tensor at a time. It
// reports false, doing nothing, for a LoRA checkpoint.
func convertNative(dir, out string, dt ckpt.DType, maxShardBytes int64, progress func(done, total int)) (ckpt.BloomConfig, bool, error) {
	nt, cfg, err := OpenNativeTensors(dir)
	if err != nil || nt == nil {
		return cfg, err != nil, err
	}
	defer nt.Close()
	names := nt.Names()
	ts := make([]ckpt.Tensor, len(names))
	for i, name := range names {
		t, _ := nt.l.Lookup(name)
		ts[i] = ckpt.Tensor{Name: name, Shape: t.Shape, Load: func() ([]float32, error) {
			data, _, err := nt.Float32(name)
			if err == nil && progress != nil {
				progress(i+1, len(ts))
			}
			return data, err
		}}
	}
	return cfg, true, ckpt.SaveHF(out, cfg, dt, ts, maxShardBytes)
}

// NativeTensors serves the whole tensors of a committed native checkpoint
// without LoRA adapters by Hugging Face name (without "transformer."),
// each joined from the tensor-parallel pieces of the shards holding it
// when asked for: memory holds that tensor, not the model. It is a
// source for the converters (deepspeed.Source).
type NativeTensors struct {
	n   *ckpt.Native
	src *shardSource
	l   *bloom.Layout
	dir string
}

// OpenNativeTensors opens the native checkpoint in dir (a step directory,
// or a checkpoint root whose latest committed step it takes), checking
// every tensor's pieces (presence, dtype, shape) in the shards' headers,
// and returns it with the config.json of its model. A LoRA checkpoint,
// which needs its base, gives nil, with no error: load it whole
// (LoadModel).
func OpenNativeTensors(dir string) (*NativeTensors, ckpt.BloomConfig, error) {
	step, err := stepDir(dir)
	if err != nil {
		return nil, ckpt.BloomConfig{}, err
	}
	n, src, c, err := openNative(step)
	if err != nil {
		return nil, ckpt.BloomConfig{}, err
	}
	fail := func(err error) (*NativeTensors, ckpt.BloomConfig, error) {
		n.Close()
		return nil, ckpt.BloomConfig{}, err
	}
	if c.LoRA.On() {
		return fail(nil)
	}
	if err := missingShards(n, step); err != nil {
		return fail(err)
	}
	if _, err := trainerRecordOf(n.Manifest, step); err != nil {
		return fail(err)
	}
	if err := c.Validate(); err != nil {
		return fail(fmt.Errorf("%w: %s: %w", ErrMismatch, step, err))
	}
	l := bloom.NewLayout(c)
	for _, t := range l.Tensors {
		if err := src.check(ckptPrefixes[0], l, t); err != nil {
			return fail(fmt.Errorf("%w: %s: %w", ErrMismatch, step, err))
		}
	}
	return &NativeTensors{n: n, src: src, l: l, dir: step}, withShape(ckpt.DefaultBloomConfig(), c), nil
}

// Names lists the tensors in the model's order.
func (nt *NativeTensors) Names() []string {
	out := make([]string, len(nt.l.Tensors))
	for i, t := range nt.l.Tensors {
		out[i] = t.Name
	}
	return out
}

// Info gives a tensor's shape (as F32), from the layout alone.
func (nt *NativeTensors) Info(name string) (ckpt.TensorInfo, bool) {
	t, ok := nt.l.Lookup(name)
	if !ok {
		return ckpt.TensorInfo{}, false
	}
	return ckpt.TensorInfo{Name: name, DType: ckpt.F32, Shape: slices.Clone(t.Shape)}, true
}

// Float32 joins the named tensor from the shards; the caller owns the
// slice and shape.
func (nt *NativeTensors) Float32(name string) ([]float32, []int, error) {
	t, ok := nt.l.Lookup(name)
	if !ok {
		return nil, nil, fmt.Errorf("%w: %s: no tensor %q", ckpt.ErrNotFound, nt.dir, name)
	}
	data, err := nt.src.whole(ckptPrefixes[0], nt.l, t)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %s: %w", ErrMismatch, nt.dir, err)
	}
	return data, slices.Clone(t.Shape), nil
}

// Close closes the shards.
func (nt *NativeTensors) Close() error { return nt.n.Close() }
