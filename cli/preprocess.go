package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	ucli "github.com/urfave/cli/v2"

	"bloom/trainer/data"
	"bloom/trainer/data/preprocess"
	"bloom/trainer/tokenizer"
)

func preprocessCommand() *ucli.Command {
	return &ucli.Command{
		Name:  "preprocess",
		Args:  true,
		Usage: "tokenize text into Megatron indexed datasets (.bin/.idx)",
		UsageText: "bloomctl preprocess --input PATH --tokenizer-name-or-path DIR|FILE --output-prefix P\n" +
			"    [--json-keys text] [--append-eod] [--workers N] [--log-interval N] [--format alpaca]",
		Description: `What Megatron's tools/preprocess_data.py does, in one binary. --input is a
parquet file, a JSON-lines file (or one JSON array), or a directory of them
(taken in name order). Each --json-keys key becomes {prefix}_{key}_document.bin
and .idx in Megatron's MMIDIDX format: uint16 tokens when the vocabulary has
fewer than 65500 entries, else int32. Empty documents are skipped. The output
is the same whatever --workers is, and appears only when complete.

--format alpaca reads instruction records (instruction, input, output) and
writes AscendSpeed's GeneralInstructionHandler datasets:
{prefix}_packed_{input_ids,attention_mask,labels}_document, int32, with the
labels of the prompt up to "### Response:\n" set to -100.`,
		Flags: preprocessFlags(),
		Action: func(c *ucli.Context) error {
			return runPreprocess(c)
		},
	}
}

// preprocessFlags are preprocess's flags, named as Megatron's
// preprocess_data.py arguments where it has them.
func preprocessFlags() []ucli.Flag {
	return []ucli.Flag{
		&ucli.StringFlag{Name: "input", Usage: "a parquet or JSON(-lines) `PATH`, or a directory of them", Required: true, EnvVars: []string{"BLOOM_INPUT"}},
		&ucli.StringFlag{Name: "tokenizer-name-or-path", Usage: "tokenizer.json, or a `DIR` holding it", Required: true, EnvVars: []string{"BLOOM_TOKENIZER_NAME_OR_PATH"}},
		&ucli.StringFlag{Name: "output-prefix", Usage: "`P`: outputs are P_{key}_document.bin/.idx", Required: true, EnvVars: []string{"BLOOM_OUTPUT_PREFIX"}},
		&ucli.StringSliceFlag{Name: "json-keys", Value: ucli.NewStringSlice("text"), Usage: "keys (parquet columns) to tokenize, each its own dataset", EnvVars: []string{"BLOOM_JSON_KEYS"}},
		&ucli.BoolFlag{Name: "append-eod", Usage: "end every document with the end-of-document token (</s>)", EnvVars: []string{"BLOOM_APPEND_EOD"}},
		&ucli.IntFlag{Name: "workers", Aliases: []string{"worker"}, Usage: "tokenizing threads (0 = every core)", EnvVars: []string{"BLOOM_WORKERS"}},
		&ucli.IntFlag{Name: "log-interval", Value: 100, Usage: "log every N documents when stderr is not a terminal", EnvVars: []string{"BLOOM_LOG_INTERVAL"}},
		&ucli.StringFlag{Name: "format", Usage: "input format: empty for documents, or alpaca for instruction data", EnvVars: []string{"BLOOM_FORMAT"}},
		&ucli.StringFlag{Name: "dtype", Value: "auto", Usage: "token dtype of document datasets: auto (Megatron's rule), uint16 or int32", EnvVars: []string{"BLOOM_DTYPE"}},
		&ucli.StringFlag{Name: "tokenizer-type", Value: "PretrainedFromHF", Usage: "accepted for Megatron scripts; only PretrainedFromHF exists", EnvVars: []string{"BLOOM_TOKENIZER_TYPE"}},
	}
}

// runPreprocess tokenizes --input into the datasets, stopping on SIGINT or
// SIGTERM, and reports what it wrote.
func runPreprocess(c *ucli.Context) error {
	if c.NArg() > 0 { // Megatron's "--json-keys text title" would drop title here
		return fmt.Errorf("preprocess takes no arguments, got %q: several keys are --json-keys text,title (or --json-keys text --json-keys title)", c.Args().Slice())
	}
	asJSON, err := outputJSON(c)
	if err != nil {
		return err
	}
	cfg, err := preprocessConfig(c)
	if err != nil {
		return err
	}
	tok, err := tokenizer.Load(c.String("tokenizer-name-or-path"))
	if err != nil {
		return err
	}
	if cfg.AppendEOD || cfg.Format == preprocess.FormatAlpaca {
		if cfg.EOD, err = eodToken(tok, c.String("tokenizer-name-or-path")); err != nil {
			return err
		}
	}
	progress := preprocess.NewProgressPrinter(c.App.ErrWriter, isTerminal(c.App.ErrWriter), c.Int("log-interval"))
	cfg.Progress = progress.Report
	ctx, stop := signal.NotifyContext(c.Context, os.Interrupt, syscall.SIGTERM)
	defer stop()
	st, err := preprocess.Run(ctx, tok, cfg)
	if err != nil {
		return err
	}
	return reportPreprocess(c, asJSON, cfg, st)
}

// preprocessConfig turns the flags into a config.
func preprocessConfig(c *ucli.Context) (preprocess.Config, error) {
	if t := c.String("tokenizer-type"); t != "PretrainedFromHF" {
		return preprocess.Config{}, fmt.Errorf("--tokenizer-type %s: only PretrainedFromHF (a Hugging Face tokenizer.json) is supported", t)
	}
	inputs, err := preprocess.ListInputs(c.String("input"))
	if err != nil {
		return preprocess.Config{}, fmt.Errorf("--input: %w", err)
	}
	cfg := preprocess.Config{
		Inputs: inputs, Keys: splitKeys(c.StringSlice("json-keys")), OutputPrefix: c.String("output-prefix"),
		Format: c.String("format"), AppendEOD: c.Bool("append-eod"), Workers: c.Int("workers"),
	}
	switch cfg.Format {
	case "", "none":
		cfg.Format = preprocess.FormatPretrain
	case preprocess.FormatAlpaca:
	default:
		return cfg, fmt.Errorf("--format %q: use alpaca, or leave it out for plain documents", cfg.Format)
	}
	switch d := c.String("dtype"); d {
	case "auto":
	case "uint16":
		cfg.DType = data.DTypeUint16
	case "int32":
		cfg.DType = data.DTypeInt32
	default:
		return cfg, fmt.Errorf("--dtype %q: use auto, uint16 or int32", d)
	}
	if cfg.Workers < 0 {
		return cfg, fmt.Errorf("--workers %d: use 0 (every core) or more", cfg.Workers)
	}
	if dir := filepath.Dir(cfg.OutputPrefix); !isDir(dir) {
		return cfg, fmt.Errorf("--output-prefix: directory %s does not exist", dir)
	}
	return cfg, nil
}

// splitKeys accepts "text title", "text,title" and repeated flags.
func splitKeys(vals []string) []string {
	var keys []string
	for _, v := range vals {
		keys = append(keys, strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ' ' })...)
	}
	return keys
}

// isDir reports whether p exists and is a directory.
func isDir(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.IsDir()
}

// eodToken is the tokenizer's end-of-document id: the eos_token of
// tokenizer_config.json or special_tokens_map.json beside it, else </s>.
func eodToken(tok *tokenizer.Tokenizer, path string) (int32, error) {
	dir := path
	if !isDir(path) {
		dir = filepath.Dir(path)
	}
	name := "</s>"
	for _, f := range []string{"tokenizer_config.json", "special_tokens_map.json"} {
		if s := eosFromConfig(filepath.Join(dir, f)); s != "" {
			name = s
			break
		}
	}
	id, ok := tok.TokenToID(name)
	if !ok {
		return 0, fmt.Errorf("the tokenizer has no end-of-document token %q (needed by --append-eod and --format alpaca)", name)
	}
	return id, nil
}

// eosFromConfig reads eos_token from a Hugging Face config file: a string
// or an {"content": ...} object.
func eosFromConfig(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	var cfg struct {
		EOS json.RawMessage `json:"eos_token"`
	}
	if json.Unmarshal(b, &cfg) != nil || len(cfg.EOS) == 0 {
		return ""
	}
	var s string
	if json.Unmarshal(cfg.EOS, &s) == nil {
		return s
	}
	var obj struct {
		Content string `json:"content"`
	}
	json.Unmarshal(cfg.EOS, &obj)
	return obj.Content
}

// isTerminal reports whether w is a character device (a terminal).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// preprocessResult is what preprocess prints with --output json.
type preprocessResult struct {
	Outputs   []string `json:"outputs"`
	Documents int64    `json:"documents"`
	Skipped   int64    `json:"skipped"`
	Tokens    int64    `json:"tokens"`
	Seconds   float64  `json:"seconds"`
}

// reportPreprocess prints the datasets written, or the counts as JSON.
func reportPreprocess(c *ucli.Context, asJSON bool, cfg preprocess.Config, st preprocess.Stats) error {
	r := preprocessResult{Outputs: cfg.OutputPrefixes(), Documents: st.Records, Skipped: st.Skipped,
		Tokens: st.Tokens, Seconds: st.Elapsed.Seconds()}
	if asJSON {
		return writeJSON(c.App.Writer, r)
	}
	for _, p := range r.Outputs {
		fmt.Fprintf(c.App.Writer, "wrote %s.bin and %s.idx\n", p, p)
	}
	return nil
}
