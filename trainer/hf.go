package trainer

import (
	"errors"
	"fmt"
	"slices"

	"bloom/ckpt"
	"bloom/npu"
	"bloom/trainer/bloom"
)

// ErrMismatch is wrapped when a checkpoint's tensors do not fit its config.
var ErrMismatch = errors.New("trainer: checkpoint does not match its config")

// ConfigFromHF converts a Hugging Face BLOOM config.
func ConfigFromHF(c ckpt.BloomConfig) bloom.Config {
	return bloom.Config{Vocab: c.VocabSize, Hidden: c.HiddenSize, Heads: c.NHead, Layers: c.NLayer, Eps: float32(c.LayerNormEpsilon)}
}

// withShape is cfg with the model shape of c.
func withShape(cfg ckpt.BloomConfig, c bloom.Config) ckpt.BloomConfig {
	cfg.VocabSize, cfg.HiddenSize, cfg.NHead, cfg.NLayer = c.Vocab, c.Hidden, c.Heads, c.Layers
	if float32(cfg.LayerNormEpsilon) != c.Eps { // 1e-05 stays 1e-05, not float32's 9.99999974e-06
		cfg.LayerNormEpsilon = float64(c.Eps)
	}
	return cfg
}

// LoadHF opens the Hugging Face model directory dir (config.json plus single
// or sharded safetensors) on d. Every tensor the config implies must be
// present with its shape; unknown tensors are an error too, since they mean
// the config and the weights disagree.
func LoadHF(d npu.Device, dir string) (*bloom.Model, ckpt.BloomConfig, error) {
	return loadHF(d, dir, nil)
}

// loadHF is LoadHF, calling progress (when not nil) after each tensor.
func loadHF(d npu.Device, dir string, progress func(done, total int)) (*bloom.Model, ckpt.BloomConfig, error) {
	h, err := ckpt.OpenHF(dir)
	if err != nil {
		return nil, ckpt.BloomConfig{}, err
	}
	defer h.Close()
	m, err := bloom.New(d, ConfigFromHF(h.Config))
	if err != nil {
		return nil, h.Config, fmt.Errorf("%s: %w", dir, err)
	}
	for _, name := range h.Names() {
		if _, ok := m.Layout.Lookup(name); !ok {
			return nil, h.Config, fmt.Errorf("%w: %s has tensor %q, which a %d-layer BLOOM does not have", ErrMismatch, dir, name, m.Cfg.Layers)
		}
	}
	for i, t := range m.Layout.Tensors {
		data, shape, err := h.Float32(t.Name)
		if err != nil {
			return nil, h.Config, fmt.Errorf("%w: %s: tensor %q: %w", ErrMismatch, dir, t.Name, err)
		}
		if !slices.Equal(shape, t.Shape) {
			return nil, h.Config, fmt.Errorf("%w: %s: tensor %q has shape %v, the config implies %v", ErrMismatch, dir, t.Name, shape, t.Shape)
		}
		d.Write(m.Params.Slice(t.Offset, t.Size), data)
		if progress != nil {
			progress(i+1, len(m.Layout.Tensors))
		}
	}
	return m, h.Config, nil
}

// LoadHFPart reads the Hugging Face model directory dir as the part p of
// it onto d, tensor by tensor: host memory holds one whole tensor at a
// time, never the whole model (how an inference rank of a model larger
// than one host loads its share). comm is the part's tensor-parallel group
// (nil when p.TP is 1).
func LoadHFPart(d npu.Device, dir string, p bloom.Part, comm bloom.TPComm) (*bloom.Model, ckpt.BloomConfig, error) {
	h, err := ckpt.OpenHF(dir)
	if err != nil {
		return nil, ckpt.BloomConfig{}, err
	}
	defer h.Close()
	cfg := ConfigFromHF(h.Config)
	m, err := bloom.NewPart(d, cfg, p, comm)
	if err != nil {
		return nil, h.Config, fmt.Errorf("%s: %w", dir, err)
	}
	whole := bloom.NewLayout(cfg)
	for _, name := range h.Names() {
		if _, ok := whole.Lookup(name); !ok {
			return nil, h.Config, fmt.Errorf("%w: %s has tensor %q, which a %d-layer BLOOM does not have", ErrMismatch, dir, name, cfg.Layers)
		}
	}
	for _, t := range m.Layout.Tensors {
		w, _ := whole.Lookup(t.Name)
		data, shape, err := h.Float32(t.Name)
		if err != nil {
			return nil, h.Config, fmt.Errorf("%w: %s: tensor %q: %w", ErrMismatch, dir, t.Name, err)
		}
		if !slices.Equal(shape, w.Shape) {
			return nil, h.Config, fmt.Errorf("%w: %s: tensor %q has shape %v, the config implies %v", ErrMismatch, dir, t.Name, shape, w.Shape)
		}
		piece := make([]float32, t.Size)
		m.Layout.Shard(t, data, piece)
		d.Write(m.Params.Slice(t.Offset, t.Size), piece)
	}
	return m, h.Config, nil
}

// SaveHF writes m as a Hugging Face model directory with tensors stored as
// dt (F32, F16 or BF16), sharded past maxShardBytes (0 = one file), LoRA
// adapters merged into the base weights. cfg carries the fields of
// config.json that the model shape does not.
func SaveHF(m *bloom.Model, cfg ckpt.BloomConfig, dir string, dt ckpt.DType, maxShardBytes int64) error {
	m, err := bloom.MergeLoRA(m)
	if err != nil {
		return err
	}
	cfg = withShape(cfg, m.Cfg)
	host := make([]float32, m.Layout.Size)
	m.Dev.Read(host, m.Params)
	ts := make([]ckpt.Tensor, 0, len(m.Layout.Tensors))
	for _, t := range m.Layout.Tensors {
		ts = append(ts, ckpt.Tensor{Name: t.Name, Shape: t.Shape, Data: host[t.Offset : t.Offset+t.Size]})
	}
	return ckpt.SaveHF(dir, cfg, dt, ts, maxShardBytes)
}

// HFConfig is cfg with m's model shape: the config.json of m.
func HFConfig(m *bloom.Model, cfg ckpt.BloomConfig) ckpt.BloomConfig { return withShape(cfg, m.Cfg) }

// ConvertHF writes the Hugging Face model directory dir to out as SaveHF
// writes a model LoadHF read from it (the same files, byte for byte: dtype
// dt, shards past maxShardBytes, the tensors in the model's order, the
// config as the model's shape gives it), without loading the model: each
// tensor is read from dir, converted and written before the next is read,
// so memory holds one tensor, not the model. dir is checked as LoadHF
// checks it (every tensor the config implies, with its shape, and no
// other) before anything is written. progress, when not nil, is called
// as each tensor is read, with how many of how many. It returns the
// config written.
func ConvertHF(dir, out string, dt ckpt.DType, maxShardBytes int64, progress func(done, total int)) (ckpt.BloomConfig, error) {
	h, err := ckpt.OpenHF(dir)
	if err != nil {
		return ckpt.BloomConfig{}, err
	}
	defer h.Close()
	h.Stream()
	c := ConfigFromHF(h.Config)
	if err := c.Validate(); err != nil {
		return h.Config, fmt.Errorf("%s: %w", dir, err)
	}
	l := bloom.NewLayout(c)
	for _, name := range h.Names() {
		if _, ok := l.Lookup(name); !ok {
			return h.Config, fmt.Errorf("%w: %s has tensor %q, which a %d-layer BLOOM does not have", ErrMismatch, dir, name, c.Layers)
		}
	}
	ts := make([]ckpt.Tensor, len(l.Tensors))
	for i, t := range l.Tensors {
		ti, ok := h.Info(t.Name)
		switch {
		case !ok:
			return h.Config, fmt.Errorf("%w: %s: tensor %q: %w", ErrMismatch, dir, t.Name, ckpt.ErrNotFound)
		case !ti.DType.IsFloat():
			return h.Config, fmt.Errorf("%w: %s: tensor %q is %s, not a float tensor", ErrMismatch, dir, t.Name, ti.DType)
		case !slices.Equal(ti.Shape, t.Shape):
			return h.Config, fmt.Errorf("%w: %s: tensor %q has shape %v, the config implies %v", ErrMismatch, dir, t.Name, ti.Shape, t.Shape)
		}
		ts[i] = ckpt.Tensor{Name: t.Name, Shape: t.Shape, Load: func() ([]float32, error) {
			data, _, err := h.Float32(t.Name)
			h.Evict(t.Name)
			if err != nil {
				return nil, fmt.Errorf("%w: %s: tensor %q: %w", ErrMismatch, dir, t.Name, err)
			}
			if progress != nil {
				progress(i+1, len(ts))
			}
			return data, nil
		}}
	}
	cfg := withShape(h.Config, c)
	return cfg, ckpt.SaveHF(out, cfg, dt, ts, maxShardBytes)
}
