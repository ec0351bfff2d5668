package tokenizer

import (
	"encoding/json"
	"fmt"
	"math"
)

// bpeFile is tokenizer.json's model section.
type bpeFile struct {
	Type                    string           `json:"type"`
	Dropout                 *float64         `json:"dropout"`
	UnkToken                *string          `json:"unk_token"`
	ContinuingSubwordPrefix *string          `json:"continuing_subword_prefix"`
	EndOfWordSuffix         *string          `json:"end_of_word_suffix"`
	FuseUnk                 *bool            `json:"fuse_unk"`
	ByteFallback            *bool            `json:"byte_fallback"`
	IgnoreMerges            *bool            `json:"ignore_merges"`
	Vocab                   map[string]int64 `json:"vocab"`
	Merges                  json.RawMessage  `json:"merges"`
}

// maxVocabID bounds token ids, so a hostile file cannot make us allocate
// gigabytes for a sparse id table.
const maxVocabID = 1 << 26

// parseBPE builds the model section. byteLevel is whether the pipeline maps
// bytes to GPT-2's alphabet.
func parseBPE(raw json.RawMessage, byteLevel bool) (*bpeModel, error) {
	if isNull(raw) {
		return nil, fmt.Errorf("model is missing")
	}
	c, err := parseComponent(raw, "model")
	if err != nil {
		return nil, err
	}
	if c.Type != "BPE" && c.Type != "" {
		return nil, unsupported("model", c.Type, "BPE")
	}
	var f bpeFile
	if err := json.Unmarshal(raw, &f); err != nil {
		return nil, fmt.Errorf("model: %v", err)
	}
	if f.Vocab == nil || f.Merges == nil {
		return nil, fmt.Errorf("model: BPE needs vocab and merges")
	}
	if f.Dropout != nil && *f.Dropout != 0 {
		return nil, fmt.Errorf("model: BPE dropout %g is not supported (it makes encoding random)", *f.Dropout)
	}
	m := &bpeModel{unk: -1, fuseUnk: boolOr(f.FuseUnk, false), byteFallback: boolOr(f.ByteFallback, false),
		ignoreMerges: boolOr(f.IgnoreMerges, false)}
	if f.ContinuingSubwordPrefix != nil {
		m.prefix = *f.ContinuingSubwordPrefix
	}
	if f.EndOfWordSuffix != nil {
		m.suffix = *f.EndOfWordSuffix
	}
	if err := m.setVocab(f.Vocab); err != nil {
		return nil, err
	}
	if f.UnkToken != nil {
		id, ok := m.vocab[*f.UnkToken]
		if !ok {
			return nil, fmt.Errorf("model: unk_token %q is not in the vocabulary", *f.UnkToken)
		}
		m.unk = id
	}
	merges, err := parseMerges(f.Merges)
	if err != nil {
		return nil, err
	}
	if err := m.setMerges(merges); err != nil {
		return nil, err
	}
	m.finish(byteLevel)
	return m, nil
}

func (m *bpeModel) setVocab(v map[string]int64) error {
	m.vocab = make(map[string]int32, len(v))
	top := int64(-1)
	for tok, id := range v {
		if id < 0 || id > math.MaxInt32 || id >= maxVocabID {
			return fmt.Errorf("model.vocab: token %q has id %d, want 0 ≤ id < %d", tok, id, maxVocabID)
		}
		m.vocab[tok] = int32(id)
		top = max(top, id)
	}
	m.vocabR = make([]string, top+1)
	for tok, id := range m.vocab {
		m.vocabR[id] = tok
	}
	return nil
}

// setMerges ranks the merges by position; a pair listed twice keeps its
// last rank, as in Hugging Face.
func (m *bpeModel) setMerges(merges [][2]string) error {
	m.merges = make(map[uint64]bpeMerge, len(merges))
	for i, mg := range merges {
		a, okA := m.vocab[mg[0]]
		b, okB := m.vocab[mg[1]]
		right := mg[1]
		if len(right) >= len(m.prefix) && right[:len(m.prefix)] == m.prefix {
			right = right[len(m.prefix):]
		}
		id, okN := m.vocab[mg[0]+right]
		if !okA || !okB || !okN {
			return fmt.Errorf("model.merges: merge %d (%q %q) uses or makes a token that is not in the vocabulary", i+1, mg[0], mg[1])
		}
		m.merges[pairKey(a, b)] = bpeMerge{rank: int32(i), id: id}
	}
	return nil
}
