package cli

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	ucli "github.com/urfave/cli/v2"

	"bloom/ckpt"
	"bloom/ckpt/deepspeed"
	"bloom/trainer"
	"bloom/trainer/bloom"
)

// The seed's converter (tools/ckpt_convert/bloom/convert_weights_from_huggingface.py)
// flags, accepted by convert as they are, and the DeepSpeed pipeline
// (AscendSpeed) format on either side of a conversion.

// seedModels is the converter's --type table: layers, hidden size, heads.
var seedModels = map[string][3]int{"7B": {30, 4096, 32}, "176B": {70, 14336, 112}}

var seedConvertFlags = []ucli.Flag{
	&ucli.StringFlag{Name: "to", Usage: "what to write: hf, ascendspeed (DeepSpeed pipeline layer files; default when --deepspeed or a parallel size is given) or native (a checkpoint a job resumes on the layout the parallel sizes give)"},
	&ucli.IntFlag{Name: "tensor-model-parallel-size", Value: 1, Usage: "ascendspeed, native: tensor-parallel ranks to cut the weights for"},
	&ucli.IntFlag{Name: "pipeline-model-parallel-size", Value: 1, Usage: "ascendspeed, native: pipeline stages (ascendspeed: one mp_rank client-state file per TP×PP rank)"},
	&ucli.StringFlag{Name: "partition-layers", Usage: "ascendspeed, native: blocks per pipeline stage, e.g. 6,6,6,6,6,6,6,6,6,6,6,4 (default: even)"},
	&ucli.StringFlag{Name: "type", Usage: "the seed's model type, 7B or 176B: checked against the model, and gives the head count when reading layer files without a config"},
	&ucli.BoolFlag{Name: "deepspeed", Usage: "write the DeepSpeed (AscendSpeed) layout, as the seed's converter does by default"},
	&ucli.IntFlag{Name: "make-vocab-size-divisible-by", Value: 128, Usage: "ascendspeed: pad the vocabulary to a multiple of this times TP (copies of the last rows, as the seed)"},
	&ucli.StringFlag{Name: "config", Usage: "a Hugging Face config.json `FILE` for reading layer files whose client state has no config (head count, token ids)"},
}

// isPipeline reports whether dir holds DeepSpeed layer files or the seed
// converter's mp_rank files (itself or the tag folder its "latest" names).
func isPipeline(dir string) bool { return deepspeed.IsPipeline(dir) }

// wantPipeline reports whether convert writes the DeepSpeed layout.
func wantPipeline(c *ucli.Context) (bool, error) {
	switch strings.ToLower(c.String("to")) {
	case "hf", "huggingface":
		return false, nil
	case "ascendspeed", "deepspeed":
		return true, nil
	case "":
		return c.Bool("deepspeed") || c.IsSet("tensor-model-parallel-size") || c.IsSet("pipeline-model-parallel-size"), nil
	}
	return false, fmt.Errorf("--to %q: use hf, ascendspeed or native", c.String("to"))
}

// pipelineLayout reads the seed's layout flags.
func pipelineLayout(c *ucli.Context) (deepspeed.Layout, error) {
	l := deepspeed.Layout{TP: c.Int("tensor-model-parallel-size"), PP: c.Int("pipeline-model-parallel-size")}
	if s := c.String("partition-layers"); s != "" {
		for _, f := range strings.Split(s, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil {
				return l, fmt.Errorf("--partition-layers %q: a comma-separated list of block counts", s)
			}
			l.PartitionLayers = append(l.PartitionLayers, n)
		}
	}
	return l, nil
}

// checkType checks cfg against --type.
func checkType(c *ucli.Context, cfg ckpt.BloomConfig) error {
	t := strings.ToUpper(c.String("type"))
	if t == "" {
		return nil
	}
	m, ok := seedModels[t]
	if !ok {
		return fmt.Errorf("--type %q: use 7B or 176B", c.String("type"))
	}
	if cfg.NLayer != m[0] || cfg.HiddenSize != m[1] || cfg.NHead != m[2] {
		return fmt.Errorf("--type %s is %d layers, hidden %d, %d heads; the model has %d, %d, %d (leave --type out for other sizes)",
			t, m[0], m[1], m[2], cfg.NLayer, cfg.HiddenSize, cfg.NHead)
	}
	return nil
}

// pipelineBase is what reading layer files cannot find in them: from
// --config, else --type's head count with BLOOM's token ids.
func pipelineBase(c *ucli.Context) (ckpt.BloomConfig, error) {
	if p := c.String("config"); p != "" {
		return ckpt.ReadBloomConfig(p)
	}
	base := ckpt.DefaultBloomConfig()
	base.VocabSize, base.NHead = 0, 0
	if m, ok := seedModels[strings.ToUpper(c.String("type"))]; ok {
		base.NHead = m[2]
	}
	return base, nil
}

// openSource opens --model as whole tensors under HF names: layer files,
// an HF directory, or a native checkpoint (its tensors joined from the
// shards one at a time; a LoRA checkpoint loaded whole on the CPU and
// merged).
func openSource(c *ucli.Context, dir string) (deepspeed.Source, ckpt.BloomConfig, func(), error) {
	if isPipeline(dir) {
		base, err := pipelineBase(c)
		if err != nil {
			return nil, base, nil, err
		}
		cp, err := deepspeed.Open(dir, base)
		if err != nil {
			return nil, base, nil, err
		}
		return cp, cp.Config, func() {}, nil
	}
	if _, err := os.Stat(filepath.Join(dir, ckpt.ConfigName)); err == nil {
		h, err := ckpt.OpenHF(dir)
		if err != nil {
			return nil, ckpt.BloomConfig{}, nil, err
		}
		return h, h.Config, func() { h.Close() }, nil
	}
	if nt, cfg, err := trainer.OpenNativeTensors(dir); err == nil && nt != nil {
		return nt, cfg, func() { nt.Close() }, nil
	} // else LoRA, or an error that loading says as it always has
	m, cfg, err := openModel(c, dir)
	if err != nil {
		return nil, cfg, nil, err
	}
	if m, err = bloom.MergeLoRA(m); err != nil {
		return nil, cfg, nil, err
	}
	return newModelSource(m), trainer.HFConfig(m, cfg), func() {}, nil
}

// modelSource serves a loaded model's tensors (one host copy of it).
type modelSource struct {
	m    *bloom.Model
	host []float32
}

func newModelSource(m *bloom.Model) *modelSource {
	host := make([]float32, m.Layout.Size)
	m.Dev.Read(host, m.Params)
	return &modelSource{m: m, host: host}
}

func (s *modelSource) Names() []string {
	out := make([]string, len(s.m.Layout.Tensors))
	for i, t := range s.m.Layout.Tensors {
		out[i] = t.Name
	}
	return out
}

func (s *modelSource) Float32(name string) ([]float32, []int, error) {
	t, ok := s.m.Layout.Lookup(name)
	if !ok {
		return nil, nil, fmt.Errorf("no tensor %q", name)
	}
	return s.host[t.Offset : t.Offset+t.Size], slices.Clone(t.Shape), nil
}

// convertPipeline writes src as DeepSpeed layer files, printing progress
// to w.
func convertPipeline(c *ucli.Context, src deepspeed.Source, cfg ckpt.BloomConfig, out string, dt ckpt.DType, w io.Writer) error {
	l, err := pipelineLayout(c)
	if err != nil {
		return err
	}
	last := -1
	o := deepspeed.WriteOptions{DType: dt, DivisibleBy: c.Int("make-vocab-size-divisible-by"),
		Progress: func(n, total int, file, key string) {
			if pct := n * 20 / total; pct != last || n == total {
				last = pct
				fmt.Fprintf(w, "tensor %d of %d: %s %s\n", n, total, file, key)
			}
		}}
	return deepspeed.Write(out, src, cfg, l, o)
}

// saveSourceHF writes src as an HF directory, one tensor in memory at a
// time when src gives shapes without data (layer files, HF directories,
// native checkpoints), else every tensor at once.
func saveSourceHF(src deepspeed.Source, cfg ckpt.BloomConfig, out string, dt ckpt.DType, shard int64, progress io.Writer) error {
	names := src.Names()
	var ts []ckpt.Tensor
	for i, name := range names {
		shape, err := sourceShape(src, name)
		if err != nil {
			return err
		}
		if shape == nil {
			data, shape, err := src.Float32(name)
			if err != nil {
				return err
			}
			ts = append(ts, ckpt.Tensor{Name: name, Shape: shape, Data: data})
			continue
		}
		ts = append(ts, ckpt.Tensor{Name: name, Shape: shape, Load: func() ([]float32, error) {
			if progress != nil {
				fmt.Fprintf(progress, "tensor %d of %d: %s\n", i+1, len(names), name)
			}
			data, _, err := src.Float32(name)
			return data, err
		}})
	}
	return ckpt.SaveHF(out, cfg, dt, ts, shard)
}

// sourceShape is a tensor's shape from src's metadata, or nil when src
// cannot tell without reading it.
func sourceShape(src deepspeed.Source, name string) ([]int, error) {
	switch s := src.(type) {
	case interface{ Shape(string) ([]int, error) }:
		return s.Shape(name)
	case interface {
		Info(string) (ckpt.TensorInfo, bool)
	}:
		if ti, ok := s.Info(name); ok {
			return slices.Clone(ti.Shape), nil
		}
	}
	return nil, nil
}
