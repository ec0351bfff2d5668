package cli

import (
	"fmt"
	"io"
	"strings"

	ucli "github.com/urfave/cli/v2"

	"bloom/ckpt"
	"bloom/trainer"
)

func convertCommand() *ucli.Command {
	return &ucli.Command{
		Name:      "convert",
		Usage:     "write a model as a Hugging Face BLOOM directory or as AscendSpeed/DeepSpeed pipeline layer files: from a job's native checkpoint, a Hugging Face directory or layer files",
		UsageText: "bloomctl convert --model DIR --out DIR [--dtype F32|F16|BF16] [--max-shard-size 10G]\n   bloomctl convert --input-model-dir HF --output-model-dir DIR --tensor-model-parallel-size 8 --pipeline-model-parallel-size 12 --type 176B --deepspeed --partition-layers 6,6,6,6,6,6,6,6,6,6,6,4",
		Description: `Reads --model (a native checkpoint of any tensor- and pipeline-parallel layout:
a job's --save directory, whose latest committed step is taken, or one iter_* step
of it; or a Hugging Face BLOOM directory) and writes --out as a Hugging Face model
directory: config.json and model.safetensors, or shards with
model.safetensors.index.json past --max-shard-size. The optimizer state stays
behind. Jobs load either format directly (--load); this is for generate, score and
other tools, and for taking a model out of the cluster. Every conversion reads,
converts and writes one tensor at a time (a native tensor joined from its
tensor-parallel pieces), so memory is about the largest tensor, not the model;
only a LoRA checkpoint is loaded whole, to merge its adapters.

With the seed's converter flags (--deepspeed, --tensor-model-parallel-size,
--pipeline-model-parallel-size, --partition-layers, --type; --input-model-dir and
--output-model-dir name --model and --out) it writes the DeepSpeed pipeline layout
AscendSpeed and Megatron-DeepSpeed load: latest, and in release/ one
layer_NN-model_TT-model_states.pt per layer and tensor-parallel rank, cut as the
seed's converter cuts them, plus mp_rank_NN_model_states.pt. --model may also be
such a directory (a training save's latest global_step, or a release), or the
seed converter's own output (release/mp_rank_NN_model_states.pt holding the
weights; TP and PP are read from the files, the vocabulary size from --config):
its parts are joined back, and it converts to a Hugging Face directory (or to other layer
files). Progress is printed as tensor n of N.

With --to native it writes a native checkpoint (OUT/iter_NNNNNNN) cut for
--tensor-model-parallel-size, --pipeline-model-parallel-size and
--partition-layers, which a job resumes with --load OUT on that layout: from a
native checkpoint of any layout (resharded offline: weights, AdamW moments, step,
samples consumed and learning-rate position carried over), from a DeepSpeed
universal checkpoint (its fp32 weights and Adam moments, iteration, consumed
samples and scheduler position; the embedding re-padded), from a training save in
layer files with ZeRO stage 0-2 optimizer shards (zero_pp_rank_*_optim_states.pt:
their fp32 master weights and Adam moments, iteration, consumed samples, scheduler
position and Adam's step), or from weights alone
(a Hugging Face directory or layer files without them: step 0, AdamW moments zero, as a job
starting from those weights). With --adapter, a LoRA job's
checkpoint gives its adapters alone as a peft adapter directory instead.
  bloomctl convert --model /data/ckpt/job-1 --out bloom-tuned --dtype BF16
  bloomctl convert --model /data/ckpt/job-1 --to native --out /data/ckpt/job-1-tp4 --tensor-model-parallel-size 4 --pipeline-model-parallel-size 2`,
		Flags: append([]ucli.Flag{
			convertModelFlag(),
			&ucli.StringFlag{Name: "out", Aliases: []string{"output-model-dir"}, Usage: "the Hugging Face model `DIR` to write (created; files in it are replaced)"},
			&ucli.StringFlag{Name: "dtype", Value: "F32", Usage: "dtype of the written weights: F32, F16 or BF16 (rounded to nearest even)"},
			&ucli.StringFlag{Name: "max-shard-size", Value: "0", Usage: "largest safetensors file, e.g. 10G (0: one file)"},
			&ucli.StringFlag{Name: "tokenizer", Usage: "the tokenizer.json `FILE` to write with the model (default: --model's own tokenizer.json, or the one its checkpoint records: the data's, or the byte-level one of the embedded corpus)"},
			&ucli.BoolFlag{Name: "adapter", Usage: "write a LoRA checkpoint's adapters alone, as a peft adapter directory (adapter_config.json, adapter_model.safetensors), instead of the merged model"},
		}, seedConvertFlags...),
		Action: func(c *ucli.Context) error {
			asJSON, err := outputJSON(c)
			if err != nil {
				return err
			}
			out := c.String("out")
			if out == "" {
				return fmt.Errorf("--out DIR is required: where to write the Hugging Face model")
			}
			dt := ckpt.DType(strings.ToUpper(c.String("dtype")))
			if dt != ckpt.F32 && dt != ckpt.F16 && dt != ckpt.BF16 {
				return fmt.Errorf("--dtype %q: use F32, F16 or BF16", c.String("dtype"))
			}
			shard, err := parseByteSize(c.String("max-shard-size"), 1<<50)
			if err != nil {
				return fmt.Errorf("--max-shard-size: %w", err)
			}
			if c.Bool("adapter") {
				dev, err := openDevice(c)
				if err != nil {
					return err
				}
				if err := trainer.ExportAdapter(dev, c.String("model"), out); err != nil {
					return err
				}
				_, err = fmt.Fprintf(c.App.Writer, "wrote the LoRA adapters of %s to %s\n", c.String("model"), out)
				return err
			}
			if wantNative(c) {
				return convertNative(c, out, asJSON)
			}
			pipeOut, err := wantPipeline(c)
			if err != nil {
				return err
			}
			if pipeOut || isPipeline(c.String("model")) {
				return convertVia(c, pipeOut, out, dt, shard, asJSON)
			}
			params, err := convertToHF(c, out, dt, shard, asJSON)
			if err != nil {
				return err
			}
			tok := c.String("tokenizer")
			if tok == "" {
				tok = modelTokenizer(c.String("model"))
			}
			tok = shipTokenizer(c.App.ErrWriter, out, tok)
			if asJSON {
				return writeJSON(c.App.Writer, map[string]any{"model": c.String("model"), "out": out, "dtype": dt,
					"parameters": params, "tokenizer": tok})
			}
			_, err = fmt.Fprintf(c.App.Writer, "wrote %s: %d parameters as %s%s\n", out, params, dt,
				map[bool]string{true: ", with tokenizer.json"}[tok != ""])
			return err
		},
	}
}

// convertToHF writes --model as the Hugging Face directory out and returns
// its parameter count: a tensor at a time from a Hugging Face directory or
// a native checkpoint without LoRA adapters (trainer.ConvertModel).
func convertToHF(c *ucli.Context, out string, dt ckpt.DType, shard int64, asJSON bool) (int, error) {
	dir := c.String("model")
	if dir == "" {
		return 0, fmt.Errorf("--model DIR is required: a Hugging Face BLOOM directory (config.json and safetensors weights) or a native checkpoint (a job's --save directory or one of its iter_* steps)")
	}
	dev, err := openDevice(c)
	if err != nil {
		return 0, err
	}
	var progress func(done, total int)
	if !asJSON {
		fmt.Fprintf(c.App.ErrWriter, "converting %s to %s as %s\n", dir, out, dt)
		progress = tensorProgress(c.App.ErrWriter, "converting "+dir)
	}
	cfg, err := trainer.ConvertModel(dev, dir, out, dt, shard, progress)
	return trainer.ConfigFromHF(cfg).NumParams(), err
}

// convertModelFlag is --model, also spelled as the seed's --input-model-dir.
func convertModelFlag() ucli.Flag {
	f := *modelFlag
	f.Aliases = []string{"input-model-dir"}
	return &f
}

// convertVia converts through whole tensors under HF names: to DeepSpeed
// layer files, or from them to a Hugging Face directory.
func convertVia(c *ucli.Context, pipeOut bool, out string, dt ckpt.DType, shard int64, asJSON bool) error {
	in := c.String("model")
	if in == "" {
		return fmt.Errorf("--model DIR (or --input-model-dir) is required: a Hugging Face directory, a native checkpoint or DeepSpeed layer files")
	}
	src, cfg, done, err := openSource(c, in)
	if err != nil {
		return err
	}
	defer done()
	if err := checkType(c, cfg); err != nil {
		return err
	}
	format := "hf"
	if pipeOut {
		format = "ascendspeed"
		err = convertPipeline(c, src, cfg, out, dt, c.App.ErrWriter)
	} else {
		err = saveSourceHF(src, cfg, out, dt, shard, progressWriter(c, asJSON))
	}
	if err != nil {
		return err
	}
	if asJSON {
		return writeJSON(c.App.Writer, map[string]any{"model": in, "out": out, "dtype": dt, "format": format,
			"layers": cfg.NLayer, "hidden": cfg.HiddenSize, "heads": cfg.NHead, "vocab": cfg.VocabSize})
	}
	_, err = fmt.Fprintf(c.App.Writer, "wrote %s (%s, %s): %d layers, hidden %d, %d heads, vocab %d\n", out, format, dt,
		cfg.NLayer, cfg.HiddenSize, cfg.NHead, cfg.VocabSize)
	return err
}

// progressWriter is where convert prints progress: stderr, unless the
// output is JSON.
func progressWriter(c *ucli.Context, asJSON bool) io.Writer {
	if asJSON {
		return nil
	}
	return c.App.ErrWriter
}
