package data

import (
	_ "embed"
	"errors"
	"fmt"
)

//go:embed corpus.txt
var demoText []byte

// DemoText is the embedded English corpus the demo trains on.
func DemoText() []byte { return demoText }

// ByteOffset is the id of byte 0 in a byte-level vocabulary: ids 0–3 stay
// BLOOM's special tokens (<unk>, <s>, </s>, <pad>).
const ByteOffset = 4

// ByteVocab is the smallest vocabulary that holds every byte token.
const ByteVocab = ByteOffset + 256

// ByteTokens maps text to byte-level token ids.
func ByteTokens(text []byte) []int32 {
	ids := make([]int32, len(text))
	for i, b := range text {
		ids[i] = int32(b) + ByteOffset
	}
	return ids
}

// ByteText maps byte-level ids back to text, dropping special tokens.
func ByteText(ids []int32) []byte {
	out := make([]byte, 0, len(ids))
	for _, id := range ids {
		if id >= ByteOffset && id < ByteVocab {
			out = append(out, byte(id-ByteOffset))
		}
	}
	return out
}

// ErrTooShort is returned when a corpus cannot fill one sample.
var ErrTooShort = errors.New("data: corpus shorter than one sample")

// ByteCorpus serves windows of seq+1 byte tokens at positions drawn from a
// seeded hash of the sample number, so sample i is the same in every run and
// after every resume.
type ByteCorpus struct {
	ids  []int32
	seq  int
	seed uint64
}

// NewByteCorpus makes a source of seq+1-token samples over text.
func NewByteCorpus(text []byte, seq int, seed uint64) (*ByteCorpus, error) {
	if len(text) < seq+1 {
		return nil, fmt.Errorf("%w: %d bytes, a sample needs %d", ErrTooShort, len(text), seq+1)
	}
	return &ByteCorpus{ids: ByteTokens(text), seq: seq, seed: seed}, nil
}

// Sample copies sample i into dst (seq+1 tokens).
func (c *ByteCorpus) Sample(i int64, dst []int32) error {
	if len(dst) != c.seq+1 {
		return fmt.Errorf("data: sample buffer holds %d tokens, want %d", len(dst), c.seq+1)
	}
	starts := uint64(len(c.ids) - c.seq)
	off := splitmix64(c.seed^uint64(i)*0x9e3779b97f4a7c15) % starts
	copy(dst, c.ids[off:])
	return nil
}

// splitmix64 is a fixed, well-mixed 64-bit hash.
func splitmix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ x>>30) * 0xbf58476d1ce4e5b9
	x = (x ^ x>>27) * 0x94d049bb133111eb
	return x ^ x>>31
}
