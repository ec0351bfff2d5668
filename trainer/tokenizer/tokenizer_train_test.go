package tokenizer

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
	"unicode/utf8"
)

// TestTrainMatchesHF trains on the reference corpus as
// scripts/tokenizer/gen_reference.js trained bloom.json with the library's
// BpeTrainer (special tokens first, the corpus's alphabet, 3000 tokens) and
// wants the same vocabulary and merges, in order.
func TestTrainMatchesHF(t *testing.T) {
	want, err := Load(filepath.Join(refDir, "bloom.json"))
	if err != nil {
		t.Fatal(err)
	}
	cfg := DefaultTrainConfig()
	cfg.VocabSize, cfg.CorpusAlphabet = 3000, true
	got := trainCorpus(t, cfg)
	for id, tok := range got.Vocab {
		if w, _ := want.model.token(int32(id)); w != tok {
			t.Fatalf("token %d: %q, want %q", id, tok, w)
		}
	}
	if len(got.Vocab) != len(want.model.vocab) {
		t.Fatalf("%d tokens, want %d", len(got.Vocab), len(want.model.vocab))
	}
	if len(got.Merges) != len(want.model.merges) {
		t.Fatalf("%d merges, want %d", len(got.Merges), len(want.model.merges))
	}
	for r, m := range got.Merges {
		a, b := want.model.vocab[m[0]], want.model.vocab[m[1]]
		if mg, ok := want.model.merges[pairKey(a, b)]; !ok || int(mg.rank) != r {
			t.Fatalf("merge %d %q: the library has it at rank %d (found %v)", r, m, mg.rank, ok)
		}
	}
}

func trainCorpus(t *testing.T, cfg TrainConfig) *TrainedBPE {
	t.Helper()
	f, err := os.Open(filepath.Join(refDir, "corpus.txt"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tr, err := NewBPETrainer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := tr.FeedReader(f.Name(), f); err != nil {
		t.Fatal(err)
	}
	got, err := tr.Train()
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// TestTrainedRoundTrip: a tokenizer trained with the full byte alphabet
// reloads from its JSON, starts with BLOOM's special tokens, and decodes
// what it encodes.
func TestTrainedRoundTrip(t *testing.T) {
	cfg := DefaultTrainConfig()
	cfg.VocabSize = 600
	tok, err := trainCorpus(t, cfg).Tokenizer()
	if err != nil {
		t.Fatal(err)
	}
	for i, s := range []string{"<unk>", "<s>", "</s>", "<pad>"} {
		if id, ok := tok.TokenToID(s); !ok || id != int32(i) {
			t.Errorf("%s has id %d (%v), want %d", s, id, ok, i)
		}
	}
	if tok.VocabSize() != 600 {
		t.Errorf("vocabulary of %d, want 600", tok.VocabSize())
	}
	for _, s := range []string{"Hello, world!", "\xff\xfe raw bytes", "日本語 emoji 👨‍👩‍👧‍👦", "<s>x</s>"} {
		ids := tok.AppendIDs(nil, s)
		if got := tok.Decode(ids, false); got != s && s[0] != 0xff {
			t.Errorf("round trip of %q gave %q", s, got)
		}
		if slices.Contains(ids, 0) {
			t.Errorf("%q encodes with <unk>: %v", s, ids)
		}
	}
}

// TestByteLevel: the byte-level tokenizer encodes any text, invalid UTF-8
// included, as its bytes plus 4, and decodes them back.
func TestByteLevel(t *testing.T) {
	tok, err := ByteLevel().Tokenizer()
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"Hello, world!", "  spaces\tand\nlines ", "héllo 日本語 🙂", "\xff\xfe bad utf-8", ""} {
		ids := tok.Encode(s).IDs
		if len(ids) != len(s) {
			t.Fatalf("%q: %d ids for %d bytes: %v", s, len(ids), len(s), ids)
		}
		for i := range len(s) {
			if ids[i] != int32(s[i])+4 {
				t.Fatalf("%q: byte %d (%#x) is id %d, want %d", s, i, s[i], ids[i], int32(s[i])+4)
			}
		}
		if got := tok.Decode(ids, true); utf8.ValidString(s) && got != s {
			t.Errorf("decode %q: %q", s, got)
		}
	}
	if tok.VocabSize() != 260 {
		t.Errorf("vocabulary of %d", tok.VocabSize())
	}
}
