package data

import "fmt"

// GPTSplits is Megatron's build_train_valid_test_datasets for one data
// prefix: the indexed dataset split by sequence ranges into train, valid and
// test GPTDatasets. A split with no sequences is nil, as in Megatron.
type GPTSplits struct {
	Data               *Indexed
	Ranges             [4]int // train [0,1), valid [1,2), test [2,3)
	Train, Valid, Test *GPTDataset
}

// GPTSplitConfig is what the split datasets share.
type GPTSplitConfig struct {
	Split       string   // "969,30,1": Megatron's --split
	NumSamples  [3]int64 // train, valid, test samples requested
	SeqLength   int
	Seed        uint32
	ExactEpochs int    // --train-data-exact-num-epochs (train only); 0 = off
	CachePrefix string // see GPTConfig; empty = beside the data
	NoCache     bool
}

// OpenGPTSplits opens prefix.bin/.idx and builds (or loads) the index maps
// of each non-empty split.
func OpenGPTSplits(prefix string, cfg GPTSplitConfig) (*GPTSplits, error) {
	data, err := OpenIndexed(prefix)
	if err != nil {
		return nil, err
	}
	s := &GPTSplits{Data: data}
	if s.Ranges, err = SplitRanges(cfg.Split, data.Len()); err != nil {
		data.Close()
		return nil, err
	}
	for i, name := range []string{"train", "valid", "test"} {
		docs := [2]int{s.Ranges[i], s.Ranges[i+1]}
		if docs[1] <= docs[0] {
			continue
		}
		g, err := NewGPTDataset(data, docs, GPTConfig{
			Name: name, CachePrefix: cfg.CachePrefix, NoCache: cfg.NoCache,
			GPTIndexConfig: GPTIndexConfig{NumSamples: cfg.NumSamples[i], SeqLength: cfg.SeqLength,
				Seed: cfg.Seed, ExactEpochs: cfg.ExactEpochs},
		})
		if err != nil {
			s.Close()
			return nil, err
		}
		*s.split(i) = g
	}
	return s, nil
}

func (s *GPTSplits) split(i int) **GPTDataset {
	return [...]**GPTDataset{&s.Train, &s.Valid, &s.Test}[i]
}

// Close releases the index maps and the data.
func (s *GPTSplits) Close() error {
	var first error
	for i := 0; i < 3; i++ {
		if g := *s.split(i); g != nil {
			if err := g.Close(); err != nil && first == nil {
				first = err
			}
		}
	}
	if err := s.Data.Close(); err != nil && first == nil {
		first = err
	}
	return first
}

// MicroBatch is Megatron's MegatronPretrainingSampler (dataloader_type
// "single"): the global batch of micro×dpSize sample numbers starting at
// consumed, of which data-parallel rank dpRank takes
// [dpRank·micro, (dpRank+1)·micro). It fails where Megatron drops the last
// partial batch. Samples are numbered in the dataset's shuffled order, so
// GPTDataset.Sample(n) of each returned n is what that rank trains on, and
// resuming from consumed continues the same sequence.
func MicroBatch(total, consumed int64, micro, dpRank, dpSize int) ([]int64, error) {
	if micro < 1 || dpSize < 1 || dpRank < 0 || dpRank >= dpSize {
		return nil, fmt.Errorf("data: micro-batch %d, rank %d of %d: invalid", micro, dpRank, dpSize)
	}
	if consumed < 0 || consumed >= total {
		return nil, fmt.Errorf("data: no samples left: %d consumed of %d", consumed, total)
	}
	step := int64(micro) * int64(dpSize)
	if consumed+step > total {
		return nil, fmt.Errorf("data: only %d samples left of %d, fewer than a batch of %d (dropped, as Megatron does)", total-consumed, total, step)
	}
	out := make([]int64, micro)
	for k := range out {
		out[k] = consumed + int64(dpRank*micro+k)
	}
	return out, nil
}
