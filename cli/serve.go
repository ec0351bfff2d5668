package cli

import (
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	ucli "github.com/urfave/cli/v2"

	"bloom/trainer"
	"bloom/trainer/serve"
)

func serveCommand() *ucli.Command {
	return &ucli.Command{
		Name:  "serve",
		Usage: "serve a model in this process over HTTP: OpenAI's /v1/completions and /v1/models, TGI's /generate, /generate_stream, / and /info, /health, /metrics",
		UsageText: "bloomctl serve --model DIR [--tokenizer FILE] [--listen 127.0.0.1:8000] [--name NAME] [--max-batch 8] [--max-context 2048] [--kv-cache-tokens N] [--kv-cache-dtype fp32] [--prefill-chunk 128]\n" +
			"   curl -s localhost:8000/v1/completions -d '{\"model\":\"NAME\",\"prompt\":\"Hello\",\"max_tokens\":16}'",
		Description: `Requests join the running batch and leave it at token boundaries (continuous
batching, up to --max-batch at once; each with its own sampler, stop strings and length;
a batched request's tokens are the ones it gets alone). Keys and values live in blocks of
16 positions from one cache of --kv-cache-tokens: a request reserves its prompt and
max_tokens when it joins and waits while they do not fit; joining prompts are prefilled
--prefill-chunk tokens per step (several short ones in one step), so the running requests
stall only that long; --kv-cache-dtype fp16 or bf16 halves the cache. The model's name in requests is
--name, by default the directory's name. SIGINT or SIGTERM stops it.`,
		Flags: append([]ucli.Flag{
			modelFlag,
			&ucli.StringFlag{Name: "tokenizer", Usage: "tokenizer.json `FILE` (default: the model directory's)"},
			&ucli.StringFlag{Name: "listen", Value: "127.0.0.1:8000", Usage: "`HOST:PORT` to listen on (plain HTTP: keep it on localhost or behind a proxy)"},
			&ucli.StringFlag{Name: "name", Usage: "the model's id in requests (default: the model directory's name)"},
			&ucli.IntFlag{Name: "max-batch", Value: 8, Usage: "requests decoded together"},
			&ucli.IntFlag{Name: "max-context", Value: 2048, Usage: "tokens a prompt and its completion may take"},
			&ucli.IntFlag{Name: "kv-cache-tokens", Usage: "positions the key/value cache holds, all requests together, in blocks of 16 (0: max-batch × max-context); a request reserves its prompt and max_tokens when it joins, and waits while they do not fit"},
			&ucli.IntFlag{Name: "prefill-chunk", Value: 128, Usage: "prompt tokens of joining requests prefilled per step while others decode (bounds their stall; several short prompts join in one step)"},
			kvCacheFlag,
		}, precisionFlags...),
		Action: func(c *ucli.Context) error {
			tok, err := modelTokenizerFlag(c)
			if err != nil {
				return err
			}
			m, hf, err := loadModel(c)
			if err != nil {
				return err
			}
			name := c.String("name")
			if name == "" {
				name = filepath.Base(filepath.Clean(c.String("model")))
			}
			if c.Int("max-batch") < 1 || c.Int("max-context") < 2 {
				return fmt.Errorf("--max-batch must be at least 1 and --max-context at least 2")
			}
			kv, err := kvCacheOf(c)
			if err != nil {
				return err
			}
			d, err := trainer.LocalBatcher(m, trainer.BatchShape{Rows: c.Int("max-batch"), Positions: c.Int("max-context"), Capacity: c.Int("kv-cache-tokens"), KV: kv})
			if err != nil {
				return err
			}
			e := &serve.Engine{Decoder: d, Tok: tok, Pad: int32(hf.PadTokenID), EOS: int32(hf.EOSTokenID), Chunk: c.Int("prefill-chunk")}
			ctx, stop := signal.NotifyContext(c.Context, os.Interrupt, syscall.SIGTERM)
			defer stop()
			fmt.Fprintf(c.App.ErrWriter, "serving %s (%d parameters) as %q on http://%s\n", c.String("model"), m.Cfg.NumParams(), name, c.String("listen"))
			return serve.Serve(ctx, e, name, c.String("listen"))
		},
	}
}
