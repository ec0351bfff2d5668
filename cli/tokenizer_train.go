package cli

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	ucli "github.com/urfave/cli/v2"

	"bloom/trainer/tokenizer"
)

// tokenizerCommand is the `tokenizer` group (train); tokenizeCommand is
// `tokenize`, which uses one.
func tokenizerCommand() *ucli.Command {
	return &ucli.Command{
		Name:  "tokenizer",
		Usage: "make tokenizers",
		Subcommands: []*ucli.Command{
			tokenizerTrainCommand(),
		},
	}
}

func tokenizerTrainCommand() *ucli.Command {
	def := tokenizer.DefaultTrainConfig()
	return &ucli.Command{
		Name:      "train",
		Args:      true,
		Usage:     "train a byte-level BPE tokenizer with BLOOM's pipeline",
		UsageText: "bloomctl tokenizer train --vocab-size N --out tokenizer.json FILES...",
		Description: `Trains on UTF-8 text files, a line at a time, as Hugging Face's BpeTrainer does:
Split on BLOOM's pattern (isolated), ByteLevel without its regex, special tokens
<unk>=0 <s>=1 </s>=2 <pad>=3, then every byte, then the merges. Writes a
tokenizer.json the Hugging Face library loads and encodes identically.
Progress goes to standard error.`,
		Flags: []ucli.Flag{
			&ucli.IntFlag{Name: "vocab-size", Value: def.VocabSize, Usage: "vocabulary size, special tokens included"},
			&ucli.StringFlag{Name: "out", Usage: "where to write tokenizer.json", Required: true},
			&ucli.IntFlag{Name: "min-frequency", Usage: "never merge a pair seen fewer times"},
			&ucli.BoolFlag{Name: "corpus-alphabet", Usage: "start from the bytes the corpus uses instead of all 256 (Hugging Face's default without initial_alphabet)"},
		},
		Action: func(c *ucli.Context) error {
			if c.NArg() == 0 {
				return errors.New("no training files: give one or more UTF-8 text files after the flags")
			}
			cfg := def
			cfg.VocabSize, cfg.MinFrequency, cfg.CorpusAlphabet = c.Int("vocab-size"), c.Int("min-frequency"), c.Bool("corpus-alphabet")
			cfg.Progress = trainProgress(c.App.ErrWriter)
			if err := cfg.Validate(); err != nil {
				return err
			}
			if err := outDirExists(c.String("out")); err != nil {
				return err
			}
			return trainTokenizer(c.App.ErrWriter, cfg, c.String("out"), c.Args().Slice())
		},
	}
}

// trainTokenizer trains a tokenizer on files, in order, and writes it to
// out, logging its progress to log.
func trainTokenizer(log io.Writer, cfg tokenizer.TrainConfig, out string, files []string) error {
	tr, err := tokenizer.NewBPETrainer(cfg)
	if err != nil {
		return err
	}
	for _, name := range files {
		if err := feedFile(tr, name, cfg.Progress); err != nil {
			return err
		}
		fmt.Fprintf(log, "read %s: %d distinct words so far\n", name, tr.Words())
	}
	trained, err := tr.Train()
	if err != nil {
		return err
	}
	if err := trained.WriteFile(out); err != nil {
		return err
	}
	fmt.Fprintf(log, "wrote %s: %d tokens, %d merges\n", out, len(trained.Vocab), len(trained.Merges))
	return nil
}

// feedFile feeds one file, reporting megabytes read as it goes.
func feedFile(tr *tokenizer.BPETrainer, name string, progress func(string, int, int)) error {
	f, err := os.Open(name)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	r := &countingReader{r: f, report: func(n int64) { progress("read "+name+" (MB)", int(n>>20), int(st.Size()>>20)) }}
	return tr.FeedReader(name, r)
}

// countingReader reports how many bytes have gone through it.
type countingReader struct {
	r      io.Reader
	n      int64
	report func(int64)
}

// Read reads from the wrapped reader and reports the total so far.
func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	c.report(c.n)
	return n, err
}

// trainProgress prints a line per stage and at most one a second within.
func trainProgress(w io.Writer) func(stage string, done, total int) {
	last, lastStage := time.Time{}, ""
	return func(stage string, done, total int) {
		if stage == lastStage && time.Since(last) < time.Second && done < total {
			return
		}
		last, lastStage = time.Now(), stage
		fmt.Fprintf(w, "%s: %d/%d\n", stage, done, total)
	}
}

// outDirExists checks, before any work, that the directory a file is to be
// written to exists and is one.
func outDirExists(out string) error {
	dir := filepath.Dir(out)
	fi, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("--out %s: the directory %s does not exist: create it first (mkdir -p %s)", out, dir, dir)
	case err != nil:
		return fmt.Errorf("--out %s: %w", out, err)
	case !fi.IsDir():
		return fmt.Errorf("--out %s: %s is not a directory", out, dir)
	}
	return nil
}
