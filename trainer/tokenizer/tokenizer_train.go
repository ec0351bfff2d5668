package tokenizer

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"
)

// TrainConfig configures a byte-level BPE trainer with BLOOM's pipeline:
// Split on BLOOM's pattern (isolated), then ByteLevel without its regex.
type TrainConfig struct {
	// VocabSize is the vocabulary to reach, special tokens included
	// (Hugging Face's vocab_size). Training stops earlier when no pair is
	// left.
	VocabSize int
	// MinFrequency: pairs seen fewer times are never merged.
	MinFrequency int
	// SpecialTokens take the first ids, in order.
	SpecialTokens []string
	// CorpusAlphabet limits the initial alphabet to the byte-level
	// characters the corpus uses, as Hugging Face's BpeTrainer does without
	// an initial_alphabet. The default, false, starts from all 256 (as
	// initial_alphabet=ByteLevel.alphabet() does), so every input encodes.
	CorpusAlphabet bool
	// Progress, if set, is called as training advances: stage names a
	// step, done counts towards total.
	Progress func(stage string, done, total int)
}

// DefaultTrainConfig is BLOOM's special tokens (<unk>=0 <s>=1 </s>=2
// <pad>=3), the full byte alphabet and Hugging Face's default vocabulary
// size.
func DefaultTrainConfig() TrainConfig {
	return TrainConfig{VocabSize: 30000, SpecialTokens: []string{"<unk>", "<s>", "</s>", "<pad>"}}
}

// Validate reports a configuration that cannot train.
func (c TrainConfig) Validate() error {
	if c.VocabSize <= len(c.SpecialTokens) {
		return fmt.Errorf("tokenizer: vocabulary size %d must exceed the %d special tokens", c.VocabSize, len(c.SpecialTokens))
	}
	if least := len(c.SpecialTokens) + 256; !c.CorpusAlphabet && c.VocabSize < least {
		return fmt.Errorf("tokenizer: vocabulary size %d is below the %d a byte-level BPE starts with (%d special tokens and all 256 bytes): "+
			"give at least %d, or start from the bytes the corpus uses (--corpus-alphabet)", c.VocabSize, least, len(c.SpecialTokens), least)
	}
	if c.MinFrequency < 0 {
		return fmt.Errorf("tokenizer: minimum frequency %d is negative", c.MinFrequency)
	}
	for _, s := range c.SpecialTokens {
		if s == "" {
			return errors.New("tokenizer: a special token is empty")
		}
	}
	return nil
}

// BPETrainer learns a byte-level BPE vocabulary: feed it text, then Train.
// It follows Hugging Face's BpeTrainer: the same words, the same pair
// counts, the same order of merges (highest count first, ties to the pair
// of smaller ids), so it gives the same file the library trains.
type BPETrainer struct {
	cfg   TrainConfig
	words map[string]int64 // piece bytes → how often
	buf   []span
}

// NewBPETrainer returns a trainer for cfg.
func NewBPETrainer(cfg TrainConfig) (*BPETrainer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &BPETrainer{cfg: cfg, words: map[string]int64{}}, nil
}

// Feed counts the words of one sequence (Hugging Face feeds files a line at
// a time, line ending included). It does not keep text.
func (tr *BPETrainer) Feed(text string) {
	tr.buf = bloomScanner{}.find(text, tr.buf[:0])
	prev := 0
	for _, m := range tr.buf {
		if prev < m.lo {
			tr.count(text[prev:m.lo])
		}
		tr.count(text[m.lo:m.hi])
		prev = m.hi
	}
	if prev < len(text) {
		tr.count(text[prev:])
	}
}

func (tr *BPETrainer) count(w string) {
	if n, ok := tr.words[w]; ok {
		tr.words[w] = n + 1
	} else {
		tr.words[strings.Clone(w)] = 1
	}
}

// FeedReader feeds r line by line; name is the file, for messages. Text must
// be UTF-8, as the library requires.
func (tr *BPETrainer) FeedReader(name string, r io.Reader) error {
	br := bufio.NewReaderSize(r, 1<<20)
	for line := 1; ; line++ {
		s, err := br.ReadString('\n')
		if s != "" {
			if !utf8.ValidString(s) {
				return fmt.Errorf("tokenizer: %s line %d: not valid UTF-8", name, line)
			}
			tr.Feed(s)
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("tokenizer: %s: %w", name, err)
		}
	}
}

// Words is the number of distinct words counted so far.
func (tr *BPETrainer) Words() int { return len(tr.words) }

func (tr *BPETrainer) progress(stage string, done, total int) {
	if tr.cfg.Progress != nil {
		tr.cfg.Progress(stage, done, total)
	}
}
