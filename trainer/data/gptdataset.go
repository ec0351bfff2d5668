package data

import (
	"errors"
	"fmt"
	"os"
	"strings"
)

// GPTConfig names one of a prefix's datasets and the samples it must give.
type GPTConfig struct {
	Name string // "train", "valid" or "test": part of the cache file names
	GPTIndexConfig
	// CachePrefix is where the index maps live, as
	// {CachePrefix}_{Name}_indexmap_{N}ns_{L}sl_{S}s_{doc,sample,shuffle}_idx.npy;
	// empty means beside the data, as Megatron does.
	CachePrefix string
	// NoCache builds the maps in memory and neither reads nor writes files.
	NoCache bool
}

// GPTDataset is Megatron's GPTDataset over a range of an indexed dataset:
// Sample(i) is __getitem__(i), the seq+1 tokens of the i-th sample in the
// shuffled order. It implements trainer.Source. It keeps data open but does
// not own it.
type GPTDataset struct {
	data  *Indexed
	name  string
	seq   int
	index *GPTIndex
	files []*npyFile
}

// IndexFiles are the three cache file names for cfg (Megatron's names).
func (cfg GPTConfig) IndexFiles(dataPrefix string) (doc, sample, shuffle string) {
	p := cfg.CachePrefix
	if p == "" {
		p = dataPrefix
	}
	p += "_" + cfg.Name + "_indexmap"
	if cfg.ExactEpochs > 0 && cfg.Name == "train" {
		p += fmt.Sprintf("_exact%dep", cfg.ExactEpochs)
	} else {
		p += fmt.Sprintf("_%dns", cfg.NumSamples)
	}
	p += fmt.Sprintf("_%dsl_%ds", cfg.SeqLength, cfg.Seed)
	return p + "_doc_idx.npy", p + "_sample_idx.npy", p + "_shuffle_idx.npy"
}

// NewGPTDataset builds (or loads from the cache) the index maps for the
// sequences docs[0] ≤ d < docs[1] of data.
func NewGPTDataset(data *Indexed, docs [2]int, cfg GPTConfig) (*GPTDataset, error) {
	if cfg.Name == "" {
		return nil, errors.New("data: a GPT dataset needs a name (train, valid or test)")
	}
	if cfg.ExactEpochs > 0 && cfg.Name != "train" {
		cfg.ExactEpochs = 0 // Megatron applies it to train only
	}
	g := &GPTDataset{data: data, name: cfg.Name, seq: cfg.SeqLength}
	if cfg.NoCache {
		x, err := BuildGPTIndex(data.Sizes(), docs, cfg.GPTIndexConfig)
		if err != nil {
			return nil, inDataset(data.Prefix(), cfg.Name, err)
		}
		g.index = x
		return g, nil
	}
	docF, sampleF, shuffleF := cfg.IndexFiles(data.Prefix())
	if !(exists(docF) && exists(sampleF) && exists(shuffleF)) {
		if err := buildIndexFiles(data, docs, cfg); err != nil {
			return nil, err
		}
	}
	if err := g.load(docF, sampleF, shuffleF); err != nil {
		g.Close()
		return nil, err
	}
	return g, nil
}

// buildIndexFiles builds the maps and saves them as .npy files.
func buildIndexFiles(data *Indexed, docs [2]int, cfg GPTConfig) error {
	x, err := BuildGPTIndex(data.Sizes(), docs, cfg.GPTIndexConfig)
	if err != nil {
		return inDataset(data.Prefix(), cfg.Name, err)
	}
	docF, sampleF, shuffleF := cfg.IndexFiles(data.Prefix())
	if err := writeNpy(docF, "<i4", []int{x.DocIdx.Len()}, x.DocIdx); err != nil {
		return err
	}
	if err := writeNpy(sampleF, "<i4", []int{x.SampleIdx.Len() / 2, 2}, x.SampleIdx); err != nil {
		return err
	}
	return writeNpy(shuffleF, x.ShuffleDescr, []int{x.ShuffleIdx.Len()}, x.ShuffleIdx)
}

// load maps the three cache files and checks their shapes agree.
func (g *GPTDataset) load(docF, sampleF, shuffleF string) error {
	var fs [3]*npyFile
	for i, p := range []string{docF, sampleF, shuffleF} {
		f, err := openNpy(p)
		if err != nil {
			return err
		}
		g.files = append(g.files, f)
		fs[i] = f
	}
	doc, sample, shuffle := fs[0], fs[1], fs[2]
	if len(doc.shape) != 1 || doc.view.descr != "<i4" {
		return fmt.Errorf("data: %s: want a 1-D int32 array, have %s %v", docF, doc.view.descr, doc.shape)
	}
	if len(sample.shape) != 2 || sample.shape[1] != 2 || sample.shape[0] < 1 || sample.view.descr == "<u4" {
		return fmt.Errorf("data: %s: want an (N+1)×2 int32 or int64 array, have %s %v", sampleF, sample.view.descr, sample.shape)
	}
	if len(shuffle.shape) != 1 || shuffle.view.descr == "<i4" {
		return fmt.Errorf("data: %s: want a 1-D uint32 or int64 array, have %s %v", shuffleF, shuffle.view.descr, shuffle.shape)
	}
	g.index = &GPTIndex{DocIdx: doc.view, SampleIdx: sample.view, ShuffleIdx: shuffle.view, ShuffleDescr: shuffle.view.descr}
	return nil
}

// datasetError puts a dataset's name in front of an error, keeping one
// "data:" prefix and the error for errors.Is.
type datasetError struct {
	where string
	err   error
}

func inDataset(prefix, name string, err error) error {
	return datasetError{where: prefix + " " + name, err: err}
}

func (e datasetError) Error() string {
	return "data: " + e.where + ": " + strings.TrimPrefix(e.err.Error(), "data: ")
}

func (e datasetError) Unwrap() error { return e.err }

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// Name is the dataset's name: train, valid or test.
func (g *GPTDataset) Name() string { return g.name }

// Index is the dataset's index maps (shared, read-only).
func (g *GPTDataset) Index() *GPTIndex { return g.index }

// Len is the number of samples: __len__, len(sample_idx)−1.
func (g *GPTDataset) Len() int64 { return g.index.Samples() }

// SeqLength is the sequence length; samples hold one token more.
func (g *GPTDataset) SeqLength() int { return g.seq }

// Sample copies sample i (seq+1 tokens) into dst, as Megatron's __getitem__:
// the tail of the first document from its offset, every document between,
// and the head of the last one. It keeps no reference to dst.
func (g *GPTDataset) Sample(i int64, dst []int32) error {
	if len(dst) != g.seq+1 {
		return fmt.Errorf("data: sample buffer holds %d tokens, want %d", len(dst), g.seq+1)
	}
	if i < 0 || i >= int64(g.index.ShuffleIdx.Len()) {
		return fmt.Errorf("data: %s %s: sample %d out of range [0,%d)", g.data.Prefix(), g.name, i, g.index.ShuffleIdx.Len())
	}
	x := g.index
	j := x.ShuffleIdx.At(int(i))
	if j < 0 || j >= int64(x.SampleIdx.Len()/2-1) {
		return g.corrupt(i, "shuffle_idx points past sample_idx")
	}
	df, of := x.SampleIdx.At(int(2*j)), x.SampleIdx.At(int(2*j+1))
	dl, ol := x.SampleIdx.At(int(2*j+2)), x.SampleIdx.At(int(2*j+3))
	if df < 0 || dl < df || dl >= int64(x.DocIdx.Len()) {
		return g.corrupt(i, "sample_idx points outside doc_idx")
	}
	if n, err := g.span(df, of, dl, ol, int64(len(dst))); err != nil || n != int64(len(dst)) {
		return g.corrupt(i, fmt.Sprintf("it spans %d tokens", n))
	}
	return g.fill(dst, df, of, dl, ol)
}

// span counts the tokens from (df, of) to (dl, ol) inclusive, giving up
// once the documents before dl hold more than want.
func (g *GPTDataset) span(df, of, dl, ol, want int64) (int64, error) {
	sizes := g.data.Sizes()
	n := int64(0)
	for d := df; d <= dl; d++ {
		s := g.index.DocIdx.At(int(d))
		if s < 0 || s >= int64(len(sizes)) {
			return 0, errors.New("bad document")
		}
		if n-of > want {
			return n - of, nil
		}
		n += int64(sizes[s])
	}
	first := g.index.DocIdx.At(int(df))
	last := g.index.DocIdx.At(int(dl))
	if of < 0 || ol < 0 || ol >= int64(sizes[last]) || of > int64(sizes[first]) {
		return 0, errors.New("bad offset")
	}
	return n - of - (int64(sizes[last]) - ol - 1), nil
}

// fill reads the tokens of a checked span into dst.
func (g *GPTDataset) fill(dst []int32, df, of, dl, ol int64) error {
	out := dst[:0]
	var err error
	doc := func(d int64) int { return int(g.index.DocIdx.At(int(d))) }
	if df == dl {
		out, err = g.data.Get(out, doc(df), int(of), int(ol-of+1))
		return err
	}
	if out, err = g.data.Get(out, doc(df), int(of), -1); err != nil {
		return err
	}
	for d := df + 1; d < dl; d++ {
		if out, err = g.data.Get(out, doc(d), 0, -1); err != nil {
			return err
		}
	}
	_, err = g.data.Get(out, doc(dl), 0, int(ol+1))
	return err
}

func (g *GPTDataset) corrupt(i int64, why string) error {
	return fmt.Errorf("data: %s %s: index maps are inconsistent at sample %d (%s): delete the *_indexmap_* files to rebuild them", g.data.Prefix(), g.name, i, why)
}

// Close releases the mapped index files (not the data).
func (g *GPTDataset) Close() error {
	var first error
	for _, f := range g.files {
		if err := f.release(); err != nil && first == nil {
			first = err
		}
	}
	g.files = nil
	return first
}
