package cli

import (
	"fmt"
	"strings"

	ucli "github.com/urfave/cli/v2"

	"bloom/ckpt"
	"bloom/trainer"
)

func convertCommand() *ucli.Command {
	return &ucli.Command{
		Name:      "convert",
		Usage:     "write a model as a Hugging Face BLOOM directory: a job's native checkpoint, or another Hugging Face directory in another dtype",
		UsageText: "bloomctl convert --model DIR --out DIR [--dtype F32|F16|BF16] [--max-shard-size 10G]",
		Description: `Reads --model (a native checkpoint of any tensor- and pipeline-parallel layout:
a job's --save directory, whose latest committed step is taken, or one iter_* step
of it; or a Hugging Face BLOOM directory) and writes --out as a Hugging Face model
directory: config.json and model.safetensors, or shards with
model.safetensors.index.json past --max-shard-size. The optimizer state stays
behind. Jobs load either format directly (--load); this is for generate, score and
other tools, and for taking a model out of the cluster. With --adapter, a LoRA job's
checkpoint gives its adapters alone as a peft adapter directory instead.
  bloomctl convert --model /data/ckpt/job-1 --out bloom-tuned --dtype BF16`,
		Flags: []ucli.Flag{
			modelFlag,
			&ucli.StringFlag{Name: "out", Usage: "the Hugging Face model `DIR` to write (created; files in it are replaced)"},
			&ucli.StringFlag{Name: "dtype", Value: "F32", Usage: "dtype of the written weights: F32, F16 or BF16 (rounded to nearest even)"},
			&ucli.StringFlag{Name: "max-shard-size", Value: "0", Usage: "largest safetensors file, e.g. 10G (0: one file)"},
			&ucli.StringFlag{Name: "tokenizer", Usage: "the tokenizer.json `FILE` to write with the model (default: --model's own tokenizer.json, or the one its checkpoint records: the data's, or the byte-level one of the embedded corpus)"},
			&ucli.BoolFlag{Name: "adapter", Usage: "write a LoRA checkpoint's adapters alone, as a peft adapter directory (adapter_config.json, adapter_model.safetensors), instead of the merged model"},
		},
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
			m, hf, err := loadModel(c)
			if err != nil {
				return err
			}
			if !asJSON {
				fmt.Fprintf(c.App.ErrWriter, "writing %s: %d parameters as %s\n", out, m.Cfg.NumParams(), dt)
			}
			if err := trainer.SaveHF(m, hf, out, dt, shard); err != nil {
				return err
			}
			tok := c.String("tokenizer")
			if tok == "" {
				tok = modelTokenizer(c.String("model"))
			}
			tok = shipTokenizer(c.App.ErrWriter, out, tok)
			if asJSON {
				return writeJSON(c.App.Writer, map[string]any{"model": c.String("model"), "out": out, "dtype": dt,
					"parameters": m.Cfg.NumParams(), "tokenizer": tok})
			}
			_, err = fmt.Fprintf(c.App.Writer, "wrote %s: %d parameters as %s%s\n", out, m.Cfg.NumParams(), dt,
				map[bool]string{true: ", with tokenizer.json"}[tok != ""])
			return err
		},
	}
}
