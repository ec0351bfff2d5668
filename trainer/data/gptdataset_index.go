package data

import (
	"errors"
	"fmt"
	"math"
)

// GPTIndexConfig is what Megatron's _build_index_mappings takes besides the
// documents and their sizes.
type GPTIndexConfig struct {
	NumSamples int64  // samples requested (train_samples, or the eval counts)
	SeqLength  int    // tokens per sample; a sample holds SeqLength+1
	Seed       uint32 // np.random.RandomState(seed), one per dataset
	// ExactEpochs, when > 0, is --train-data-exact-num-epochs: the epoch
	// count is fixed instead of derived from NumSamples.
	ExactEpochs int
}

// GPTIndex is one dataset's three index maps, as Megatron builds them.
type GPTIndex struct {
	DocIdx     intVec // int32: sequence numbers, epoch after epoch, shuffled
	SampleIdx  intVec // int32 (N+1)×2, flat: (position in DocIdx, token offset) where sample i starts
	ShuffleIdx intVec // uint32, or int64 when N ≥ 2^32−2: the sample order
	// ShuffleDescr is the .npy dtype of ShuffleIdx: <u4 or <i8.
	ShuffleDescr string
	Epochs       int
	// SeparateLastEpoch: the last epoch's samples were shuffled apart from
	// the others (fewer than 80% of an epoch was needed from it).
	SeparateLastEpoch bool
}

// Samples is the dataset's length, N: every sample the epochs can give,
// which is at least the number requested.
func (x *GPTIndex) Samples() int64 { return int64(x.SampleIdx.Len()/2 - 1) }

// ErrNoTokens is returned for a document range too small to make samples.
var ErrNoTokens = errors.New("data: too few tokens for one sample")

// GPTEpochs is Megatron's _num_epochs: the fewest epochs whose tokens give
// numSamples samples of seq+1 tokens overlapping by one.
func GPTEpochs(tokensPerEpoch int64, seq int, numSamples int64) (int, error) {
	if tokensPerEpoch <= 1 || seq < 1 {
		return 0, fmt.Errorf("%w: %d tokens per epoch, sequence length %d", ErrNoTokens, tokensPerEpoch, seq)
	}
	var total int64
	for e := 1; ; e++ {
		total += tokensPerEpoch
		if (total-1)/int64(seq) >= numSamples {
			return e, nil
		}
	}
}

// BuildGPTIndex builds doc_idx, sample_idx and shuffle_idx for the sequences
// docs[0] ≤ d < docs[1] of a dataset whose sequence sizes are sizes, exactly
// as Megatron's GPTDataset does. It does no I/O.
func BuildGPTIndex(sizes []int32, docs [2]int, cfg GPTIndexConfig) (*GPTIndex, error) {
	if docs[0] < 0 || docs[1] > len(sizes) || docs[0] >= docs[1] {
		return nil, fmt.Errorf("data: document range [%d,%d) is empty or outside the %d sequences", docs[0], docs[1], len(sizes))
	}
	if cfg.SeqLength < 2 {
		return nil, fmt.Errorf("data: sequence length %d: Megatron needs at least 2", cfg.SeqLength)
	}
	if cfg.NumSamples < 0 {
		return nil, fmt.Errorf("data: %d samples requested", cfg.NumSamples)
	}
	var tpe int64
	for _, s := range sizes[docs[0]:docs[1]] {
		tpe += int64(s)
	}
	epochs, err := GPTEpochs(tpe, cfg.SeqLength, cfg.NumSamples)
	if err != nil {
		return nil, err
	}
	if cfg.ExactEpochs > 0 {
		epochs = cfg.ExactEpochs
	}
	nDocs := docs[1] - docs[0]
	if int64(epochs)*int64(nDocs) > math.MaxInt32 {
		return nil, fmt.Errorf("data: %d epochs of %d documents overflow Megatron's int32 doc_idx", epochs, nDocs)
	}
	x := &GPTIndex{Epochs: epochs}
	seq := int64(cfg.SeqLength)
	firstEpochs := int64(0) // samples from all epochs but the last
	if epochs > 1 {
		firstEpochs = (int64(epochs-1)*tpe - 1) / seq
		last := cfg.NumSamples - firstEpochs
		perEpoch := (tpe - 1) / seq
		if last < 0 || last >= perEpoch+1 {
			return nil, fmt.Errorf("data: the last epoch would need %d samples of %d per epoch (exact epochs %d too few?)", last, perEpoch, cfg.ExactEpochs)
		}
		x.SeparateLastEpoch = last < int64(0.80*float64(perEpoch))
	}
	rng := NewRandomState(cfg.Seed)
	doc := buildDocIdx(docs, epochs, rng, x.SeparateLastEpoch)
	x.DocIdx = int32Vec(doc)
	sample, err := buildSampleIdx(sizes, doc, cfg.SeqLength, epochs, tpe)
	if err != nil {
		return nil, err
	}
	x.SampleIdx = int32Vec(sample)
	total := x.Samples()
	n := total
	if x.SeparateLastEpoch {
		n = firstEpochs
	}
	x.ShuffleIdx, x.ShuffleDescr = buildShuffleIdx(n, total, rng)
	return x, nil
}

// buildDocIdx is _build_doc_idx: every document once per epoch, shuffled as
// one array, or (separate last epoch) the first epochs and then the last
// shuffled apart, with the same generator.
func buildDocIdx(docs [2]int, epochs int, rng *RandomState, separateLast bool) []int32 {
	if separateLast && epochs > 1 {
		first := buildDocIdx(docs, epochs-1, rng, false)
		return append(first, buildDocIdx(docs, 1, rng, false)...)
	}
	n := docs[1] - docs[0]
	out := make([]int32, 0, epochs*n)
	for e := 0; e < epochs; e++ {
		for d := docs[0]; d < docs[1]; d++ {
			out = append(out, int32(d))
		}
	}
	Shuffle(rng, out)
	return out
}

// buildSampleIdx is helpers.build_sample_idx: row i is the (doc_idx
// position, offset) where sample i starts; sample i ends where sample i+1
// starts, inclusive.
func buildSampleIdx(sizes []int32, docIdx []int32, seq, epochs int, tpe int64) ([]int32, error) {
	n := (int64(epochs)*tpe - 1) / int64(seq)
	if 2*(n+1) > math.MaxInt {
		return nil, fmt.Errorf("data: %d samples do not fit in memory", n)
	}
	out := make([]int32, 2*(n+1))
	d, offset := 0, int32(0)
	for s := int64(1); s <= n; s++ {
		remaining := int32(seq + 1)
		for remaining != 0 {
			if d >= len(docIdx) {
				return nil, fmt.Errorf("data: sample %d runs past the last document (sizes changed?)", s)
			}
			docLen := sizes[docIdx[d]] - offset
			remaining -= docLen
			if remaining <= 0 {
				offset += remaining + docLen - 1
				remaining = 0
			} else {
				d++
				offset = 0
			}
		}
		out[2*s], out[2*s+1] = int32(d), offset
	}
	return out, nil
}

// buildShuffleIdx is _build_shuffle_idx: [0,n) shuffled, then [n,total)
// shuffled, in uint32 unless total ≥ 2^32−2.
func buildShuffleIdx(n, total int64, rng *RandomState) (intVec, string) {
	if shuffleDescr(total) == "<i8" {
		v := make([]int64, total)
		for i := range v {
			v[i] = int64(i)
		}
		Shuffle(rng, v[:n])
		Shuffle(rng, v[n:])
		return int64Vec(v), "<i8"
	}
	v := make([]uint32, total)
	for i := range v {
		v[i] = uint32(i)
	}
	Shuffle(rng, v[:n])
	Shuffle(rng, v[n:])
	return uint32Vec(v), "<u4"
}

// shuffleDescr is the shuffle_idx dtype rule: uint32 unless total ≥
// iinfo(uint32).max − 1.
func shuffleDescr(total int64) string {
	if total >= math.MaxUint32-1 {
		return "<i8"
	}
	return "<u4"
}
