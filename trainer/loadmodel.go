package trainer

import (
	"fmt"
	"os"
	"path/filepath"
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
	if miss := n.Missing(); len(miss) > 0 {
		return nil, trainerRecord{}, fmt.Errorf("%w: %s lacks %d of the checkpoint's %d shards (%s): a cluster node keeps only its own ranks' shards; `bloomctl checkpoints fetch JOB --step %d --out DIR` gathers a step's shards from the nodes holding them",
			ckpt.ErrNotFound, dir, len(miss), len(n.Manifest.Shards), strings.Join(miss, ", "), n.Manifest.Step)
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
			m.InitRandom(tr.Seed, tr.InitStd) // the frozen weights the run started from
		}
	}
	if err != nil {
		return nil, tr, fmt.Errorf("%w: %s: %w", ErrMismatch, dir, err)
	}
	return m, tr, src.readInto(m, m.Params, ckptPrefixes[0], trainedTensor, dir)
}
