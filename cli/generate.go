package cli

import (
	"fmt"
	"strings"

	ucli "github.com/urfave/cli/v2"

	"bloom/trainer/bloom"
)

func generateCommand() *ucli.Command {
	return &ucli.Command{
		Name:      "generate",
		Usage:     "continue a prompt with a model (KV-cached decoding)",
		UsageText: "bloomctl generate --model DIR (--prompt-tokens 5,17 | [--tokenizer FILE] --prompt TEXT) --max-new-tokens 20 [--greedy | --temperature T --top-k K --top-p P --seed S]",
		Description: `Prints the new tokens only; with --output json, {"tokens":[...]}. With --prompt
(encoded with --tokenizer, else the --model directory's tokenizer.json) or --tokenizer
it also prints them decoded (in JSON, "text").
Without --greedy, tokens are sampled: temperature, then top-k, then top-p, as
Hugging Face's generate does; --seed makes sampling repeatable.`,
		Flags: append([]ucli.Flag{
			modelFlag,
			&ucli.StringFlag{Name: "prompt-tokens", Usage: "comma-separated prompt token ids"},
			tokenizerFlag,
			&ucli.StringFlag{Name: "prompt", Usage: "prompt `TEXT`, encoded with --tokenizer (default: the --model directory's tokenizer.json)"},
			&ucli.IntFlag{Name: "max-new-tokens", Value: 32, Usage: "tokens to generate"},
			&ucli.BoolFlag{Name: "greedy", Usage: "always take the most likely token"},
			&ucli.Float64Flag{Name: "temperature", Value: 1, Usage: "sampling temperature (> 0)"},
			&ucli.IntFlag{Name: "top-k", Value: 0, Usage: "sample among the k most likely tokens (0 = all)"},
			&ucli.Float64Flag{Name: "top-p", Value: 1, Usage: "sample among the most likely tokens whose probability sums to p"},
			&ucli.Uint64Flag{Name: "seed", Value: 42, Usage: "sampling seed"},
			&ucli.IntFlag{Name: "eos", Value: -1, Usage: "stop after this token id (-1 = never; BLOOM's </s> is 2)"},
			packFlag,
		}, precisionFlags...),
		Action: func(c *ucli.Context) error {
			asJSON, err := outputJSON(c)
			if err != nil {
				return err
			}
			prompt, tok, err := textIDs(c, "prompt", "prompt-tokens")
			if err != nil {
				return err
			}
			opts, err := generateOptions(c)
			if err != nil {
				return err
			}
			m, hf, err := loadModel(c)
			if err != nil {
				return err
			}
			packWeights(c, m)
			out, err := m.Generate([][]int32{prompt}, int32(hf.PadTokenID), opts)
			if err != nil {
				return err
			}
			if asJSON {
				return writeJSON(c.App.Writer, generated{Tokens: out[0], Text: decodeIDs(tok, out[0])})
			}
			s := make([]string, len(out[0]))
			for i, t := range out[0] {
				s[i] = fmt.Sprint(t)
			}
			_, err = fmt.Fprintln(c.App.Writer, strings.Join(s, ","))
			if err == nil && tok != nil {
				_, err = fmt.Fprintln(c.App.Writer, *decodeIDs(tok, out[0]))
			}
			return err
		},
	}
}

// generateOptions are the flags' stopping and picking rules: greedy with
// --greedy, else sampling, whose settings it checks.
func generateOptions(c *ucli.Context) (bloom.GenerateOptions, error) {
	o := bloom.GenerateOptions{MaxNew: c.Int("max-new-tokens"), EOS: c.Int("eos"), Pick: bloom.Greedy}
	if o.MaxNew <= 0 {
		return o, fmt.Errorf("--max-new-tokens must be positive, got %d", o.MaxNew)
	}
	if c.Bool("greedy") {
		return o, nil
	}
	t, k, p := c.Float64("temperature"), c.Int("top-k"), c.Float64("top-p")
	switch {
	case !(t > 0):
		return o, fmt.Errorf("--temperature must be positive, got %g (use --greedy for argmax)", t)
	case k < 0:
		return o, fmt.Errorf("--top-k must not be negative, got %d", k)
	case !(p > 0 && p <= 1):
		return o, fmt.Errorf("--top-p must be in (0, 1], got %g", p)
	}
	o.Pick = bloom.NewSampler(t, k, p, c.Uint64("seed")).Pick
	return o, nil
}
