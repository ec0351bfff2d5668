package cli

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	ucli "github.com/urfave/cli/v2"

	"bloom/api"
	"bloom/ckpt"
	"bloom/daemon/jobspec"
	"bloom/trainer"
	"bloom/trainer/bloom"
	"bloom/trainer/data"
	"bloom/trainer/tensorboard"
)

func trainCommand() *ucli.Command {
	return &ucli.Command{
		Name:      "train",
		Usage:     "train a BLOOM model in this process (--local)",
		UsageText: "bloomctl train --local (--model-preset NAME | --load DIR) --train-iters N [Megatron flags...]",
		Description: `Trains on this machine's CPU and prints the loss of every step. The settings are
those of a cluster job (bloomctl submit pretrain), with the same names and
defaults, where they mean something in one process; the older local names
--steps, --preset and --model still work. The data is byte-level text: --data
FILE, or the embedded demo corpus when none is given (needs a vocabulary of at
least 260); or instruction data, --data-path PREFIX --is-instruction-dataset.
--save DIR writes the trained model as a Hugging Face directory, and native
checkpoints beside it (DIR/iter_*: weights, AdamW state, step, data position)
every --save-interval steps, at the end, and when interrupted. SIGINT (Ctrl-C)
or SIGTERM stops the run after the current step: with --save it saves both,
then exits with status 128+signal (130, 143); a second signal aborts without
saving. --load DIR of such a directory, or of a job's native checkpoint,
resumes exactly where it stopped: the step count continues to --train-iters;
--load of a plain Hugging Face directory starts at step 0 from its weights, and
so does LoRA fine-tuning (--lora-target-modules) from any --load.
Cluster training is bloomctl submit; here --local is required.`,
		Flags: trainFlags(),
		Action: func(c *ucli.Context) error {
			if !c.Bool("local") {
				return fmt.Errorf("only --local training exists so far: add --local to train in this process")
			}
			return runLocal(c)
		},
	}
}

// localSteps is train --local's run length when neither --train-iters nor
// --train-samples is given (a cluster job must give one).
const localSteps = 100

// localFields are the settings of the jobspec table that train --local
// takes, with the local command's older names and, where a setting means
// something narrower in one process, its own usage.
var localFields = map[string]specFlag{
	"model-preset": {aliases: []string{"preset"}, usage: "start from a random model of this shape: " + fmt.Sprint(bloom.PresetNames())},
	"load": {aliases: []string{"model"}, envVars: []string{"BLOOM_MODEL"}, usage: "start from this model `DIR`: Hugging Face BLOOM " +
		"(config.json + model.safetensors or sharded with index.json), or a native checkpoint: a job's --save directory " +
		"(its latest committed step) or one iter_* step of it (with --lora-target-modules, the frozen base)"},
	"train-iters":                   {aliases: []string{"steps"}, defaultText: fmt.Sprint(localSteps), usage: "run length in optimizer steps (or --train-samples)"},
	"train-samples":                 {},
	"micro-batch-size":              {},
	"global-batch-size":             {usage: "sequences per optimizer step (gradient accumulation over micro-batches; Megatron has no default, bloom's is small)"},
	"seq-length":                    {},
	"lr":                            {},
	"min-lr":                        {},
	"lr-decay-style":                {},
	"lr-warmup-samples":             {},
	"lr-decay-samples":              {},
	"weight-decay":                  {},
	"clip-grad":                     {},
	"adam-beta1":                    {},
	"adam-beta2":                    {},
	"adam-eps":                      {},
	"init-method-std":               {usage: "std of the random initial weights (with --model-preset; the blocks' output projections get std/√(2·layers), as Megatron-DeepSpeed initializes them)"},
	"num-layers":                    {},
	"hidden-size":                   {},
	"num-attention-heads":           {},
	"pad-vocab-size-to":             {},
	"layernorm-epsilon":             {},
	"tensorboard-dir":               {},
	"checkpoint-activations":        {},
	"rampup-batch-size":             {},
	"log-timers-to-tensorboard":     {},
	"log-batch-size-to-tensorboard": {},
	"seed":                          {},
	"tokenizer-name-or-path": {usage: "the tokenizer.json the data was made with: written with the model by --save " +
		"(default: the loaded model's, or the byte-level one of --data text)"},
	"fp16":               {},
	"bf16":               {},
	"initial-loss-scale": {},
	"loss-scale-window":  {},
	"hysteresis":         {},
	"min-loss-scale":     {},
	"zero-stage":         {},
	"data-path": {usage: "instruction data `PREFIX` with --is-instruction-dataset (PREFIX_packed_*_document, from preprocess --format alpaca), " +
		"as a cluster job reads it; Megatron's indexed datasets train on the cluster (submit pretrain); text: --data FILE"},
	"is-instruction-dataset": {},
	"save": {usage: "write the trained model to this Hugging Face `DIR` at the end, and native checkpoints (weights, AdamW state, step, " +
		"data position) into its iter_* directories every --save-interval steps, at the end, and when SIGINT or SIGTERM stops the run " +
		"after its current step: --load DIR resumes from the latest exactly"},
	"save-interval":       {usage: "with --save, write a native checkpoint every `N` steps (0: at the end and when interrupted only)"},
	"lora-target-modules": {usage: "LoRA fine-tuning: adapt these linears of every block, e.g. query_key_value,dense; the rest stays frozen (--save merges the adapters)"},
	"lora-r":              {usage: "LoRA rank", defaultText: "16"},
	"lora-alpha":          {usage: "LoRA scaling numerator: adapters add (alpha/r)·B·A·x", defaultText: "32"},
}

// trainFlags are train --local's flags: the jobspec table's localFields and
// the settings of a local run alone (--data, --save-dtype, ...).
func trainFlags() []ucli.Flag {
	return append(specFlags(localFields),
		&ucli.BoolFlag{Name: "local", Usage: "train in this process"},
		&ucli.StringFlag{Name: "data", Usage: "text `FILE` to train on, byte-level (default: the embedded demo corpus)"},
		&ucli.StringFlag{Name: "instruction-data", Usage: "instruction data `PREFIX`: the same as --data-path PREFIX --is-instruction-dataset"},
		&ucli.StringFlag{Name: "save-dtype", Value: "F32", Usage: "dtype of saved weights: F32, F16 or BF16"},
		&ucli.StringFlag{Name: "sample-prompt", Usage: "after training, print a greedy continuation of this text (byte-level)"},
	)
}

// localSpec is the run train --local was asked for, as a job spec: the
// table's defaults, then the flags given.
func localSpec(c *ucli.Context) (jobspec.Spec, error) {
	s := jobspec.Default()
	if err := setSpec(c, &s); err != nil {
		return s, err
	}
	if p := c.String("instruction-data"); p != "" {
		if s.DataPath != "" && s.DataPath != p {
			return s, fmt.Errorf("give --instruction-data PREFIX or --data-path PREFIX --is-instruction-dataset, not both")
		}
		s.DataPath, s.InstructionDataset = p, true
	}
	switch {
	case s.DataPath != "" && !s.InstructionDataset:
		return s, fmt.Errorf("--data-path %s: train --local reads instruction data (add --is-instruction-dataset) or byte-level text (--data FILE); "+
			"train on a Megatron indexed dataset with bloomctl submit pretrain --data-path", s.DataPath)
	case s.DataPath != "" && c.String("data") != "":
		return s, fmt.Errorf("give --data FILE or --data-path PREFIX, not both")
	case s.TrainIters > 0 && s.TrainSamples > 0:
		return s, fmt.Errorf("give --train-iters or --train-samples, not both")
	case s.TrainIters == 0 && s.TrainSamples == 0:
		s.TrainIters = localSteps
	}
	return s, s.ValidatePrecision()
}

// runLocal is train --local: it builds or loads the model, adds LoRA
// adapters if asked, trains on the text or instruction data with
// trainer.Local, and prints or saves the result.
func runLocal(c *ucli.Context) error {
	asJSON, err := outputJSON(c)
	if err != nil {
		return err
	}
	s, err := localSpec(c)
	if err != nil {
		return err
	}
	// Where the result goes is checked before the training that makes it.
	saveType := ckpt.DType(strings.ToUpper(c.String("save-dtype")))
	if saveType != ckpt.F32 && saveType != ckpt.F16 && saveType != ckpt.BF16 {
		return ucli.Exit(fmt.Sprintf("train: --save-dtype %q: use F32, F16 or BF16", c.String("save-dtype")), 2)
	}
	if s.Save != "" {
		if err := ckpt.CheckWritable(s.Save); err != nil {
			return fmt.Errorf("--save: %w", err)
		}
	}
	m, hf, err := trainModel(c, s)
	if err != nil {
		return err
	}
	lora, err := s.LoRA() // the seed's rank 16 and alpha 32 where not given, as in a job
	if err != nil {
		return err
	}
	if lora.On() {
		if c.IsSet("lora-r") {
			lora.R = s.LoRAR // a rank given as 0 is refused here (bloom.AddLoRA says so)
		}
		if m, err = bloom.AddLoRA(m, lora, s.Seed); err != nil {
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
	loop := trainer.Local{Cfg: s.TrainConfig(), Model: m, Logf: func(f string, a ...any) { fmt.Fprintf(c.App.ErrWriter, f+"\n", a...) }}
	loop.Cfg.Save, loop.Cfg.SaveInterval = s.Save, s.SaveInterval
	if lora.On() {
		loop.LoRABase = s.Load // LoRA starts from --load's weights; it does not resume
	} else {
		loop.Cfg.Load = resumeFrom(s.Load)
	}
	if err := loop.Validate(); err != nil {
		return err
	}
	cfg := loop.Cfg
	var src trainer.Source
	if s.InstructionDataset {
		d, err := data.OpenInstruction(s.DataPath, cfg.SeqLength, int32(hf.PadTokenID), s.Seed)
		if err != nil {
			return fmt.Errorf("--data-path: %w", err)
		}
		defer d.Close()
		src = d
	} else if src, err = data.NewByteCorpus(text, cfg.SeqLength, s.Seed); err != nil {
		return err
	}
	loop.Data = src
	var tb *trainer.TensorBoardLog
	if s.TensorBoardDir != "" {
		flags := tensorboard.Flags{LearningRate: true, LossScale: true, BatchSize: s.LogBatchSizeToTensorboard, Timers: s.LogTimersToTensorboard, ValidationPPL: s.LogValidationPPLToTensorboard}
		if tb, err = trainer.OpenTensorBoard(s.TensorBoardDir, cfg, m.Cfg, flags); err != nil {
			return fmt.Errorf("--tensorboard-dir: %w", err)
		}
		defer tb.Close()
	}
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
			describe(s), params, m.Dev.Threads(), cfg.Steps, cfg.GlobalBatch, cfg.SeqLength)
	}
	ctx, stopped, stopSignals := interruptible(c)
	defer stopSignals()
	loop.Stop = func() bool { return stopped() != nil }
	var first, last trainer.StepStats
	start := time.Now()
	err = loop.Run(ctx, func(s trainer.StepStats) {
		if first.Step == 0 {
			first = s
		}
		last = s
		if tb != nil {
			if err := tb.Step(s); err != nil {
				fmt.Fprintf(c.App.ErrWriter, "tensorboard: %v\n", err)
			}
		}
		if asJSON {
			writeJSON(w, s)
			return
		}
		tp := trainer.StepThroughput(m.Cfg, s.Batch, cfg.SeqLength, 1, s.Seconds, cfg.Recompute, 0)
		fmt.Fprintln(w, api.StepProgress{Step: int64(s.Step), Steps: int64(cfg.Steps), Loss: s.Loss, LR: s.LR, GradNorm: s.GradNorm,
			TokensPerSec: s.TokensPerSec, LossScale: s.LossScale, SkippedSteps: s.SkippedSteps, ValLoss: s.ValLoss, ValPPL: s.ValPPL,
			FinalValLoss: s.FinalValLoss, FinalValPPL: s.FinalValPPL,
			Throughput: api.Throughput{SamplesPerSec: tp.SamplesPerSec, TokensPerSecPerDevice: tp.TokensPerSecPerDevice, SecondsPerStep: tp.SecondsPerStep, TFLOPs: tp.TFLOPsPerDevice}}.Line())
	})
	sig := stopped()
	if err != nil && !(errors.Is(err, trainer.ErrStopped) && sig != nil) {
		return err
	}
	if !asJSON && last.Step > 0 {
		fmt.Fprintf(w, "loss %.4f -> %.4f over steps %d to %d in %.1fs\n", first.Loss, last.Loss, first.Step, last.Step, time.Since(start).Seconds())
	}
	if last.Step == 0 && !asJSON {
		fmt.Fprintf(w, "nothing to train: %s is at --train-iters %d or past it (raise --train-iters)\n", loop.Cfg.Load, cfg.Steps)
	}
	if p := c.String("sample-prompt"); p != "" && !asJSON && sig == nil {
		out, err := m.Generate([][]int32{data.ByteTokens([]byte(p))}, int32(hf.PadTokenID),
			bloom.GenerateOptions{MaxNew: 120, EOS: -1, Pick: bloom.Greedy})
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "sample: %q\n", p+string(data.ByteText(out[0])))
	}
	if dir := s.Save; dir != "" {
		if err := trainer.SaveHF(m, hf, dir, saveType, 0); err != nil {
			return err
		}
		tok := shipTokenizer(c.App.ErrWriter, dir, localTokenizer(s))
		if !asJSON {
			fmt.Fprintf(w, "saved %s%s\n", dir, map[bool]string{true: " (with its tokenizer.json)"}[tok != ""])
		}
	}
	if sig != nil {
		return interrupted(sig, last.Step, cfg.Steps, s.Save)
	}
	return nil
}

// localTokenizer is the tokenizer a train --local model goes with: the
// data's (--tokenizer-name-or-path), else the model's own when it was
// loaded with one, else the byte-level one of the text it trained on.
func localTokenizer(s jobspec.Spec) string {
	switch {
	case s.TokenizerNameOrPath != "":
		return s.TokenizerNameOrPath
	case s.Load != "":
		return modelTokenizer(s.Load)
	case !s.InstructionDataset:
		return trainer.ByteTokenizer
	}
	return ""
}

// describe names the model a run starts from: its preset or directory.
func describe(s jobspec.Spec) string {
	if s.ModelPreset != "" {
		return s.ModelPreset
	}
	return s.Load
}

// trainModel loads --load (--model) or makes a random --model-preset
// (--preset) model.
func trainModel(c *ucli.Context, s jobspec.Spec) (*bloom.Model, ckpt.BloomConfig, error) {
	preset, dir := s.ModelPreset, s.Load
	switch {
	case preset != "" && dir != "":
		return nil, ckpt.BloomConfig{}, fmt.Errorf("give either --model-preset (--preset) or --load (--model), not both")
	case dir != "":
		return openModel(c, dir)
	case preset == "":
		return nil, ckpt.BloomConfig{}, fmt.Errorf("give --model-preset NAME (one of %v) or --load DIR", bloom.PresetNames())
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
	m.InitMegatron(s.Seed, s.InitMethodStd) // as a job's rank starts it
	hf := ckpt.DefaultBloomConfig()
	hf.InitializerRange = s.InitMethodStd
	return m, hf, nil
}
