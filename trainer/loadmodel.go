package trainer

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

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
	if _, err := os.Stat(filepath.Join(dir, "config.json")); err == nil {
		return LoadHF(d, dir)
	}
	step := dir
	if _, err := os.Stat(filepath.Join(dir, ckpt.ManifestName)); err != nil {
		latest, _, err := ckpt.LatestNative(dir)
		if err != nil {
			return nil, ckpt.BloomConfig{}, fmt.Errorf("%s is neither a Hugging Face model directory (no config.json) nor a native checkpoint: %w", dir, err)
		}
		step = latest
	}
	m, err := LoadNative(d, step)
	if err != nil {
		return nil, ckpt.BloomConfig{}, err
	}
	if m, err = bloom.MergeLoRA(m); err != nil {
		return nil, ckpt.BloomConfig{}, err
	}
	return m, withShape(ckpt.DefaultBloomConfig(), m.Cfg), nil
}

// LoadNative reassembles the parameters of the committed native checkpoint
// in dir (a step directory) into one whole model on d, whatever layout
// wrote it. A LoRA checkpoint holds its adapters; the frozen weights come
// from the base it names (or the initialization it was trained from).
func LoadNative(d npu.Device, dir string) (*bloom.Model, error) {
	n, src, cfg, err := openNative(dir)
	if err != nil {
		return nil, err
	}
	defer n.Close()
	m, err := bloom.New(d, cfg)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrMismatch, dir, err)
	}
	l := m.Layout
	host := make([]float32, l.Size)
	if cfg.LoRA.On() {
		var tr trainerRecord
		if err := json.Unmarshal(n.Manifest.Trainer, &tr); err != nil {
			return nil, fmt.Errorf("%w: %s: trainer record: %w", ErrMismatch, dir, err)
		}
		if tr.LoRABase == "" {
			m.InitRandom(tr.Seed, tr.InitStd)
		} else {
			base, _, err := LoadModel(d, tr.LoRABase)
			if err != nil {
				return nil, fmt.Errorf("%s: its LoRA base: %w", dir, err)
			}
			if base.Cfg != withoutLoRA(cfg) {
				return nil, fmt.Errorf("%w: %s: its LoRA base %s is a model of %+v", ErrMismatch, dir, tr.LoRABase, base.Cfg)
			}
			for _, t := range base.Layout.Tensors {
				dst, _ := l.Lookup(t.Name)
				d.Copy(m.Params.Slice(dst.Offset, dst.Size), base.Params.Slice(t.Offset, t.Size))
			}
		}
		d.Read(host, m.Params)
	}
	for _, t := range l.Tensors {
		if t.Frozen {
			continue
		}
		if err := src.read(ckptPrefixes[0], l, t, host[t.Offset:t.Offset+t.Size]); err != nil {
			return nil, fmt.Errorf("%w: %s: %w", ErrMismatch, dir, err)
		}
	}
	d.Write(m.Params, host)
	return m, nil
}
