package cli

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestRoughEdges: mistakes found before the work, each saying what to do.
// A tokenizer's --out in a directory that does not exist, and a vocabulary
// smaller than byte-level BPE's alphabet, fail before training; instruction
// data whose prompts outrun --seq-length says to raise it.
func TestRoughEdges(t *testing.T) {
	dir := t.TempDir()
	corpus := filepath.Join(dir, "corpus.txt")
	if err := os.WriteFile(corpus, []byte(strings.Repeat("abab ba ab, cab! abc abba\n", 20)), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		args []string
		want []string
	}{
		{[]string{"tokenizer", "train", "--vocab-size", "300", "--out", filepath.Join(dir, "missing", "dir", "tokenizer.json"), corpus},
			[]string{"does not exist", "mkdir -p " + filepath.Join(dir, "missing", "dir")}},
		{[]string{"tokenizer", "train", "--vocab-size", "100", "--out", filepath.Join(dir, "tokenizer.json"), corpus},
			[]string{"vocabulary size 100", "at least 260", "256 bytes", "--corpus-alphabet"}},
		{[]string{"train", "--local", "--preset", "bloom-tiny", "--steps", "1", "--seq-length", "4", "--micro-batch-size", "2", "--global-batch-size", "2",
			"--instruction-data", "../trainer/data/preprocess/testdata/alpaca_json"},
			[]string{"raise --seq-length to at least"}},
	} {
		out, err := run(t, c.args...)
		if err == nil || strings.Contains(out, "read ") || strings.Contains(out, `"step"`) {
			t.Errorf("%v: %v after doing the work:\n%s", c.args, err, out)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%v: %v; want it to say %q", c.args, err, w)
			}
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "missing")); err == nil {
		t.Error("tokenizer train created the missing directory")
	}
}

// TestLoadProgress: converting a model that takes a while prints "tensor n
// of N" lines on standard error (here with no delay before the first); a
// Hugging Face model streams, a tensor at a time.
func TestLoadProgress(t *testing.T) {
	defer func(d time.Duration) { progressAfter = d }(progressAfter)
	progressAfter = 0
	app := CtlApp()
	var out, errOut bytes.Buffer
	app.Writer, app.ErrWriter = &out, &errOut
	if err := app.Run([]string{"bloomctl", "convert", "--model", golden, "--out", filepath.Join(t.TempDir(), "hf")}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(errOut.String(), "converting "+golden+": tensor 29 of 29\n") || !strings.Contains(errOut.String(), "converting "+golden+" to ") ||
		strings.Contains(out.String(), "tensor") {
		t.Errorf("stdout %q\nstderr %q", out.String(), errOut.String())
	}
}
