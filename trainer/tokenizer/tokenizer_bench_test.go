package tokenizer

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// BenchmarkEncode measures one goroutine encoding text a line at a time,
// as preprocessing does. scripts/tokenizer/bench.js runs the Hugging Face
// library on the same file and text; BLOOM_TOKENIZER_BENCH and
// BLOOM_TOKENIZER_BENCH_TEXT name other ones (a real BLOOM tokenizer.json, a
// larger corpus; absolute paths, as go test runs in trainer/tokenizer).
func BenchmarkEncode(b *testing.B) {
	tok, lines, size := benchInput(b)
	b.Run("ids", func(b *testing.B) {
		b.SetBytes(size)
		var ids []int32
		for b.Loop() {
			for _, l := range lines {
				ids = tok.AppendIDs(ids[:0], l)
			}
		}
	})
	b.Run("full", func(b *testing.B) {
		b.SetBytes(size)
		for b.Loop() {
			for _, l := range lines {
				tok.Encode(l)
			}
		}
	})
}

func benchInput(b *testing.B) (*Tokenizer, []string, int64) {
	tokPath := os.Getenv("BLOOM_TOKENIZER_BENCH")
	if tokPath == "" {
		tokPath = filepath.Join(refDir, "bloom.json")
	}
	tok, err := Load(tokPath)
	if err != nil {
		b.Fatal(err)
	}
	text, err := benchText()
	if err != nil {
		b.Fatal(err)
	}
	lines := strings.SplitAfter(text, "\n")
	return tok, lines, int64(len(text))
}

// benchText is BLOOM_TOKENIZER_BENCH_TEXT, or the reference corpus ten
// times over (bench.js builds the same).
func benchText() (string, error) {
	if p := os.Getenv("BLOOM_TOKENIZER_BENCH_TEXT"); p != "" {
		b, err := os.ReadFile(p)
		return string(b), err
	}
	b, err := os.ReadFile(filepath.Join(refDir, "corpus.txt"))
	return strings.Repeat(string(b), 10), err
}
