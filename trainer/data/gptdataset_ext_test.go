package data_test

import (
	"context"
	"path/filepath"
	"slices"
	"testing"

	"bloom/trainer/data"
	"bloom/trainer/data/preprocess"
)

// The tests here run preprocessing to make their input, so they are
// external tests: trainer/data/preprocess imports this package.

// byteEncoder is preprocessing's stand-in tokenizer: UTF-8 bytes + 4.
type byteEncoder struct{ vocab int }

func (e byteEncoder) AppendIDs(dst []int32, text string) []int32 {
	return append(dst, data.ByteTokens([]byte(text))...)
}

func (e byteEncoder) VocabSize() int { return e.vocab }

// TestGPTSampleIsStreamWindow checks Sample against the definition: the
// documents laid end to end in doc_idx order form a stream, row r of
// sample_idx is position sum(sizes of doc_idx[:d]) + o in it, and sample i is
// the stream from row shuffle[i] to row shuffle[i]+1, inclusive. The data is
// what preprocess.Run writes for the enwiki fixture, and the maps are built
// without the cache and with it.
func TestGPTSampleIsStreamWindow(t *testing.T) {
	dir := t.TempDir()
	inputs, _ := preprocess.ListInputs(filepath.Join("parquet", "testdata", "enwiki"))
	cfg := preprocess.Config{Inputs: inputs, OutputPrefix: filepath.Join(dir, "wiki"), AppendEOD: true, EOD: 2}
	if _, err := preprocess.Run(context.Background(), byteEncoder{260}, cfg); err != nil {
		t.Fatal(err)
	}
	for _, noCache := range []bool{true, false} {
		s, err := data.OpenGPTSplits(cfg.OutputPrefixes()[0], data.GPTSplitConfig{Split: "90,8,2",
			NumSamples: [3]int64{3000, 40, 5}, SeqLength: 64, Seed: 99, NoCache: noCache})
		if err != nil {
			t.Fatal(err)
		}
		for _, g := range []*data.GPTDataset{s.Train, s.Valid, s.Test} {
			checkStreamWindows(t, s.Data, g)
		}
		s.Close()
	}
}

func checkStreamWindows(t *testing.T, ds *data.Indexed, g *data.GPTDataset) {
	t.Helper()
	x := g.Index()
	var stream []int32
	starts := make([]int64, x.DocIdx.Len()+1)
	for d := 0; d < x.DocIdx.Len(); d++ {
		starts[d] = int64(len(stream))
		stream, _ = ds.Get(stream, int(x.DocIdx.At(d)), 0, -1)
	}
	pos := func(row int64) int64 { return starts[x.SampleIdx.At(int(2*row))] + x.SampleIdx.At(int(2*row+1)) }
	dst := make([]int32, g.SeqLength()+1)
	for i := int64(0); i < g.Len(); i++ {
		if err := g.Sample(i, dst); err != nil {
			t.Fatal(err)
		}
		j := x.ShuffleIdx.At(int(i))
		want := stream[pos(j) : pos(j+1)+1]
		if !slices.Equal(dst, want) {
			t.Fatalf("%s sample %d (row %d) is not the stream window", g.Name(), i, j)
		}
	}
}
