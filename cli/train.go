package cli

import (
	"fmt"
	"os"
	"strings"
	"time"

	ucli "github.com/urfave/cli/v2"

	"bloom/ckpt"
	"bloom/trainer"
	"bloom/trainer/bloom"
	"bloom/trainer/data"
)

func trainCommand() *ucli.Command {
	return &ucli.Command{
		Name:      "train",
		Usage:     "train a BLOOM model in this process (--local)",
		UsageText: "bloomctl train --local (--preset NAME | --model DIR) --steps N [Megatron flags...]",
		Description: `Trains on this machine's CPU and prints the loss of every step. Flag names
follow Megatron/AscendSpeed. The data is byte-level text: --data FILE, or the
embedded demo corpus when none is given (needs a vocabulary of at least 260).
--save DIR writes the trained model as a Hugging Face directory.
Cluster training arrives with bloomd; until then --local is required.`,
		Flags: trainFlags(),
		Action: func(c *ucli.Context) error {
			if !c.Bool("local") {
				return fmt.Errorf("only --local training exists so far: add --local to train in this process")
			}
			return runLocal(c)
		},
	}
}

func trainFlags() []ucli.Flag {
	return []ucli.Flag{
		&ucli.BoolFlag{Name: "local", Usage: "train in this process"},
		modelFlag,
		&ucli.StringFlag{Name: "preset", Usage: "start from a random model of this shape: " + fmt.Sprint(bloom.PresetNames())},
		&ucli.IntFlag{Name: "steps", Value: 100, Usage: "optimizer steps (train iterations)"},
		&ucli.IntFlag{Name: "micro-batch-size", Value: 4, Usage: "sequences per forward/backward"},
		&ucli.IntFlag{Name: "global-batch-size", Value: 8, Usage: "sequences per optimizer step (gradient accumulation over micro-batches)"},
		&ucli.IntFlag{Name: "seq-length", Value: 64, Usage: "tokens per sequence"},
		&ucli.Float64Flag{Name: "lr", Value: 3e-3, Usage: "peak learning rate"},
		&ucli.Float64Flag{Name: "min-lr", Value: 3e-4, Usage: "learning rate at the end of the decay"},
		&ucli.StringFlag{Name: "lr-decay-style", Value: "cosine", Usage: "cosine, linear or constant"},
		&ucli.Int64Flag{Name: "lr-warmup-samples", Value: 0, Usage: "samples of linear warmup"},
		&ucli.Int64Flag{Name: "lr-decay-samples", Value: 0, Usage: "samples until min-lr (0 = the whole run)"},
		&ucli.Float64Flag{Name: "weight-decay", Value: 0.1, Usage: "AdamW weight decay (not applied to biases and layer norms)"},
		&ucli.Float64Flag{Name: "clip-grad", Value: 1.0, Usage: "clip the global gradient norm to this (0 = off)"},
		&ucli.Float64Flag{Name: "adam-beta1", Value: 0.9},
		&ucli.Float64Flag{Name: "adam-beta2", Value: 0.95},
		&ucli.Float64Flag{Name: "adam-eps", Value: 1e-8},
		&ucli.Float64Flag{Name: "init-method-std", Value: 0.02, Usage: "std of the random initial weights (with --preset)"},
		&ucli.Uint64Flag{Name: "seed", Value: 42, Usage: "seed of the initial weights and the sample order"},
		&ucli.StringFlag{Name: "data", Usage: "text `FILE` to train on, byte-level (default: the embedded demo corpus)"},
		&ucli.StringFlag{Name: "instruction-data", Usage: "instruction data `PREFIX` (PREFIX_packed_*_document, from preprocess --format alpaca) instead: a record per sample, the loss on the response only"},
		&ucli.StringFlag{Name: "save", Usage: "write the trained model to this Hugging Face `DIR`"},
		&ucli.StringFlag{Name: "save-dtype", Value: "F32", Usage: "dtype of saved weights: F32, F16 or BF16"},
		&ucli.StringFlag{Name: "sample-prompt", Usage: "after training, print a greedy continuation of this text (byte-level)"},
		&ucli.StringFlag{Name: "lora-target-modules", Usage: "LoRA fine-tuning: adapt these linears of every block, e.g. query_key_value,dense; the rest stays frozen (--save merges the adapters)"},
		&ucli.IntFlag{Name: "lora-r", Value: 16, Usage: "LoRA rank"},
		&ucli.Float64Flag{Name: "lora-alpha", Value: 32, Usage: "LoRA scaling numerator: adapters add (alpha/r)·B·A·x"},
	}
}

func runLocal(c *ucli.Context) error {
	asJSON, err := outputJSON(c)
	if err != nil {
		return err
	}
	m, hf, err := trainModel(c)
	if err != nil {
		return err
	}
	if mods := c.String("lora-target-modules"); mods != "" {
		t, err := bloom.ParseLoRATargets(strings.Split(mods, ","))
		if err != nil {
			return fmt.Errorf("--lora-target-modules: %w", err)
		}
		if m, err = bloom.AddLoRA(m, bloom.LoRA{R: c.Int("lora-r"), Alpha: float32(c.Float64("lora-alpha")), Targets: t}, c.Uint64("seed")); err != nil {
			return err
		}
	}
	text := data.DemoText()
	if f := c.String("data"); f != "" {
		if text, err = os.ReadFile(f); err != nil {
			return fmt.Errorf("--data: %w", err)
		}
	}
	if m.Cfg.Vocab < data.ByteVocab {
		return fmt.Errorf("the model's vocabulary (%d) is smaller than the %d byte-level tokens the text needs", m.Cfg.Vocab, data.ByteVocab)
	}
	cfg := trainer.LocalConfig{Steps: c.Int("steps"), MicroBatch: c.Int("micro-batch-size"),
		GlobalBatch: c.Int("global-batch-size"), SeqLength: c.Int("seq-length"), ClipGrad: c.Float64("clip-grad")}
	if err := cfg.Validate(); err != nil {
		return err
	}
	var src trainer.Source
	if p := c.String("instruction-data"); p != "" {
		d, err := data.OpenInstruction(p, cfg.SeqLength, int32(hf.PadTokenID), c.Uint64("seed"))
		if err != nil {
			return fmt.Errorf("--instruction-data: %w", err)
		}
		defer d.Close()
		src = d
	} else if src, err = data.NewByteCorpus(text, cfg.SeqLength, c.Uint64("seed")); err != nil {
		return err
	}
	sched := trainer.Schedule{MaxLR: c.Float64("lr"), MinLR: c.Float64("min-lr"), Style: c.String("lr-decay-style"),
		WarmupSamples: c.Int64("lr-warmup-samples"), DecaySamples: c.Int64("lr-decay-samples")}
	if sched.DecaySamples == 0 {
		sched.DecaySamples = int64(cfg.Steps * cfg.GlobalBatch)
	}
	opt := trainer.NewAdamW(m, trainer.AdamWConfig{Beta1: c.Float64("adam-beta1"), Beta2: c.Float64("adam-beta2"),
		Eps: c.Float64("adam-eps"), WeightDecay: c.Float64("weight-decay")})
	loop := trainer.Local{Cfg: cfg, Model: m, Opt: opt, Sched: sched, Data: src}
	w := c.App.Writer
	if !asJSON {
		params := fmt.Sprintf("%d parameters", m.Cfg.NumParams())
		if m.Cfg.LoRA.On() {
			n := 0
			for _, t := range m.Layout.Tensors {
				if !t.Frozen {
					n += t.Size
				}
			}
			params = fmt.Sprintf("LoRA %v r %d: %d of %d parameters train", m.Cfg.LoRA.Targets.Names(), m.Cfg.LoRA.R, n, m.Layout.Size)
		}
		fmt.Fprintf(w, "training %s (%s) on %d threads: %d steps of %d×%d tokens\n",
			describe(c), params, m.Dev.Threads(), cfg.Steps, cfg.GlobalBatch, cfg.SeqLength)
	}
	var first, last trainer.StepStats
	start := time.Now()
	err = loop.Run(c.Context, func(s trainer.StepStats) {
		if s.Step == 1 {
			first = s
		}
		last = s
		if asJSON {
			writeJSON(w, s)
			return
		}
		fmt.Fprintf(w, "step %4d/%d | loss %.4f | lr %.3e | grad-norm %.3f | %.0f tokens/s\n",
			s.Step, cfg.Steps, s.Loss, s.LR, s.GradNorm, s.TokensPerSec)
	})
	if err != nil {
		return err
	}
	if !asJSON {
		fmt.Fprintf(w, "loss %.4f -> %.4f over %d steps in %.1fs\n", first.Loss, last.Loss, last.Step, time.Since(start).Seconds())
	}
	if p := c.String("sample-prompt"); p != "" && !asJSON {
		out, err := m.Generate([][]int32{data.ByteTokens([]byte(p))}, int32(hf.PadTokenID),
			bloom.GenerateOptions{MaxNew: 120, EOS: -1, Pick: bloom.Greedy})
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "sample: %q\n", p+string(data.ByteText(out[0])))
	}
	if dir := c.String("save"); dir != "" {
		if err := trainer.SaveHF(m, hf, dir, ckpt.DType(c.String("save-dtype")), 0); err != nil {
			return err
		}
		if !asJSON {
			fmt.Fprintf(w, "saved %s\n", dir)
		}
	}
	return nil
}

func describe(c *ucli.Context) string {
	if p := c.String("preset"); p != "" {
		return p
	}
	return c.String("model")
}

// trainModel loads --model or makes a random --preset model.
func trainModel(c *ucli.Context) (*bloom.Model, ckpt.BloomConfig, error) {
	preset, dir := c.String("preset"), c.String("model")
	switch {
	case preset != "" && dir != "":
		return nil, ckpt.BloomConfig{}, fmt.Errorf("give either --preset or --model, not both")
	case dir != "":
		return loadModel(c)
	case preset == "":
		return nil, ckpt.BloomConfig{}, fmt.Errorf("give --preset NAME (one of %v) or --model DIR", bloom.PresetNames())
	}
	cfg, err := bloom.Preset(preset)
	if err != nil {
		return nil, ckpt.BloomConfig{}, err
	}
	dev, err := openDevice(c)
	if err != nil {
		return nil, ckpt.BloomConfig{}, err
	}
	m, err := bloom.New(dev, cfg)
	if err != nil {
		return nil, ckpt.BloomConfig{}, err
	}
	m.InitRandom(c.Uint64("seed"), c.Float64("init-method-std"))
	hf := ckpt.DefaultBloomConfig()
	hf.InitializerRange = c.Float64("init-method-std")
	return m, hf, nil
}
