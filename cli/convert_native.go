package cli

import (
	"fmt"
	"path/filepath"
	"strings"

	ucli "github.com/urfave/cli/v2"

	"bloom/ckpt"
	"bloom/ckpt/deepspeed"
	"bloom/trainer"
	"bloom/trainer/bloom"
)

// convert --to native: a native checkpoint of the layout the seed's flags
// give, which a job resumes (--load) as its own. From a native checkpoint
// (resharded offline: weights, AdamW moments, step, samples and LR position
// carried over), a DeepSpeed universal checkpoint (fp32 weights, Adam
// moments, iteration, consumed samples, LR position), or weights alone (a
// Hugging Face directory, DeepSpeed layer files): step 0 with zero moments,
// as a job loading those weights would start.

// wantNative reports whether convert writes a native checkpoint.
func wantNative(c *ucli.Context) bool { return strings.EqualFold(c.String("to"), "native") }

// convertNative writes --model as a native checkpoint under out.
func convertNative(c *ucli.Context, out string, asJSON bool) error {
	in := c.String("model")
	if in == "" {
		return fmt.Errorf("--model DIR (or --input-model-dir) is required: a native checkpoint, a universal checkpoint, DeepSpeed layer files or a Hugging Face directory")
	}
	l, err := pipelineLayout(c)
	if err != nil {
		return err
	}
	spec := trainer.NativeSpec{TP: l.TP, PP: l.PP, Partition: l.PartitionLayers}
	if !asJSON {
		spec.Progress = func(done, total int, file string) {
			fmt.Fprintf(c.App.ErrWriter, "shard %d of %d: %s\n", done, total, file)
		}
	}
	var dir, from string
	switch {
	case deepspeed.IsUniversal(in):
		from = "universal"
		dir, err = universalToNative(c, in, out, spec)
	case isPipeline(in) && deepspeed.HasOptimizer(in):
		from = "ascendspeed+zero"
		dir, err = zeroToNative(c, in, out, spec)
	case isPipeline(in):
		from = "ascendspeed"
		dir, err = weightsToNative(c, in, out, spec)
	case fileExists(filepath.Join(in, ckpt.ConfigName)):
		from = "hf"
		dir, err = weightsToNative(c, in, out, spec)
	default:
		from = "native"
		dir, err = trainer.Reshard(in, out, spec)
	}
	if err != nil {
		return err
	}
	m, err := ckpt.ReadManifest(dir)
	if err != nil {
		return err
	}
	if asJSON {
		return writeJSON(c.App.Writer, map[string]any{"model": in, "from": from, "out": dir, "format": "native",
			"step": m.Step, "consumed_samples": m.ConsumedSamples, "layout": m.Layout})
	}
	_, err = fmt.Fprintf(c.App.Writer, "wrote %s (native, from %s): TP=%d PP=%d %v, step %d, %d samples consumed\n",
		dir, from, m.Layout.TP, m.Layout.PP, m.Layout.PartitionLayers, m.Step, m.ConsumedSamples)
	return err
}

// weightsToNative writes the weights of a Hugging Face directory or of
// layer files as a native checkpoint at step 0, AdamW moments zero.
func weightsToNative(c *ucli.Context, in, out string, spec trainer.NativeSpec) (string, error) {
	src, cfg, done, err := openSource(c, in)
	if err != nil {
		return "", err
	}
	defer done()
	if err := checkType(c, cfg); err != nil {
		return "", err
	}
	spec.Model = trainer.ConfigFromHF(cfg)
	return trainer.WriteNative(out, spec, weightsOnly{src})
}

// weightsOnly serves a source's weights, and no moments.
type weightsOnly struct{ src deepspeed.Source }

func (w weightsOnly) Whole(prefix, name string) ([]float32, []int, error) {
	if prefix != "model." {
		return nil, nil, nil
	}
	return w.src.Float32(name)
}

// universalToNative writes a universal checkpoint as a native one: its
// fp32 weights and Adam moments, at its iteration (Adam's step from
// step.pt, else the iteration), samples consumed and LR position (the
// scheduler's num_steps, which Megatron counts in samples).
func universalToNative(c *ucli.Context, in, out string, spec trainer.NativeSpec) (string, error) {
	u, err := deepspeed.OpenUniversal(in)
	if err != nil {
		return "", err
	}
	if spec.Model, err = universalModel(c, u); err != nil {
		return "", err
	}
	cs := u.State
	spec.Step, spec.ConsumedSamples, spec.LRSamples = int(cs.Iteration), cs.ConsumedSamples, cs.ConsumedSamples
	if n, ok := cs.LRScheduler["num_steps"].(int64); ok {
		spec.LRSamples = n
	}
	spec.OptimizerStep = int(cs.Iteration)
	if step, ok, err := u.Step(); err != nil {
		return "", err
	} else if ok {
		spec.OptimizerStep = int(step)
	}
	return trainer.WriteNative(out, spec, &universalTensors{param: func(name string) (deepspeed.UniversalParam, error) {
		return u.Param(name, spec.Model.Vocab)
	}})
}

// zeroToNative writes a training save in layer files with ZeRO optimizer
// shards as a native checkpoint: the fp32 master weights and Adam moments
// of the shards (the embedding at the padded vocabulary it trained with),
// at the client state's iteration, samples consumed and LR position, and
// Adam's step from the shards.
func zeroToNative(c *ucli.Context, in, out string, spec trainer.NativeSpec) (string, error) {
	base, err := pipelineBase(c)
	if err != nil {
		return "", err
	}
	cp, err := deepspeed.Open(in, base)
	if err != nil {
		return "", err
	}
	if err := checkType(c, cp.Config); err != nil {
		return "", err
	}
	o, err := cp.OpenOptimizer()
	if err != nil {
		return "", err
	}
	defer o.Close()
	spec.Model = trainer.ConfigFromHF(cp.Config)
	spec.Model.Vocab = cp.PaddedVocab
	cs := cp.State
	spec.Step, spec.ConsumedSamples, spec.LRSamples = int(cs.Iteration), cs.ConsumedSamples, cs.ConsumedSamples
	if n, ok := cs.LRScheduler["num_steps"].(int64); ok {
		spec.LRSamples = n
	}
	spec.OptimizerStep = int(cs.Iteration)
	if o.Step > 0 {
		spec.OptimizerStep = int(o.Step)
	}
	return trainer.WriteNative(out, spec, &universalTensors{param: o.Param})
}

// universalModel is the model of u: Megatron's args in its client state,
// or --config's shape where they lack it; the vocabulary padded as the
// run padded it.
func universalModel(c *ucli.Context, u *deepspeed.Universal) (bloom.Config, error) {
	a := u.State.Args
	arg := func(k string) int {
		v, _ := a[k].(int64)
		return int(v)
	}
	m := bloom.Config{Vocab: u.State.PaddedVocab, Hidden: arg("hidden_size"), Heads: arg("num_attention_heads"), Layers: u.Layers, Eps: 1e-5}
	if eps, ok := a["layernorm_epsilon"].(float64); ok {
		m.Eps = float32(eps)
	}
	if p := c.String("config"); p != "" {
		hf, err := ckpt.ReadBloomConfig(p)
		if err != nil {
			return m, err
		}
		h := trainer.ConfigFromHF(hf)
		h.Vocab = max(h.Vocab, m.Vocab)
		m = h
	}
	if err := m.Validate(); err != nil {
		return m, fmt.Errorf("%s: %w (its client state lacks the model's shape: give --config FILE, a Hugging Face config.json)", u.Dir, err)
	}
	if m.Layers != u.Layers {
		return m, fmt.Errorf("%s holds %d blocks, the config says %d", u.Dir, u.Layers, m.Layers)
	}
	return m, nil
}

// universalTensors serves per-parameter weights and moments (a universal
// checkpoint's, or ZeRO shards'), keeping the last one read: WriteNative
// asks for a tensor's three copies in a row.
type universalTensors struct {
	param func(name string) (deepspeed.UniversalParam, error)
	name  string
	p     deepspeed.UniversalParam
}

func (s *universalTensors) Whole(prefix, name string) ([]float32, []int, error) {
	if name != s.name {
		p, err := s.param(name)
		if err != nil {
			return nil, nil, err
		}
		s.name, s.p = name, p
	}
	switch prefix {
	case "exp_avg.":
		return s.p.ExpAvg, s.p.Shape, nil
	case "exp_avg_sq.":
		return s.p.ExpSq, s.p.Shape, nil
	}
	return s.p.FP32, s.p.Shape, nil
}
