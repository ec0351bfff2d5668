package data

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"bloom/internal/testutil"
)

// gptReference is testdata/dataset/gpt/reference.json: index maps that
// scripts/data/gen_gpt_reference.py built with numpy, following Megatron.
type gptReference struct {
	Version  int `json:"version"`
	Datasets map[string]struct {
		DType     string `json:"dtype"`
		Sequences int    `json:"sequences"`
		Tokens    int64  `json:"tokens"`
	} `json:"datasets"`
	Cases  []gptCase `json:"cases"`
	Splits []struct {
		Split  string `json:"split"`
		Size   int    `json:"size"`
		Ranges [4]int `json:"ranges"`
	} `json:"splits"`
}

type gptCase struct {
	Case         string `json:"case"`
	Dataset      string `json:"dataset"`
	Split        string `json:"split"`
	Name         string `json:"name"`
	NumSamples   int64  `json:"num_samples"`
	SeqLength    int    `json:"seq_length"`
	Seed         uint32 `json:"seed"`
	ExactEpochs  int    `json:"exact_epochs"`
	Ranges       [4]int `json:"ranges"`
	Epochs       int    `json:"epochs"`
	Separate     bool   `json:"separate_last_epoch"`
	TotalSamples int64  `json:"total_samples"`
	ShuffleDType string `json:"shuffle_dtype"`
	Files        string `json:"files"`
}

const gptRef = "testdata/dataset/gpt"

func loadGPTReference(t *testing.T) gptReference {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(gptRef, "reference.json"))
	if err != nil {
		t.Fatal(err)
	}
	var r gptReference
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	if r.Version != 1 {
		t.Fatalf("reference.json version %d, want 1: regenerate with scripts/data/gen_gpt_reference.py", r.Version)
	}
	return r
}

// copyDataset copies a reference dataset's .bin/.idx into dir.
func copyDataset(t *testing.T, name, dir string) string {
	t.Helper()
	for _, ext := range []string{".bin", ".idx"} {
		b, err := os.ReadFile(filepath.Join(gptRef, name+ext))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name+ext), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return filepath.Join(dir, name)
}

func (c gptCase) config() GPTConfig {
	return GPTConfig{Name: c.Name, GPTIndexConfig: GPTIndexConfig{
		NumSamples: c.NumSamples, SeqLength: c.SeqLength, Seed: c.Seed, ExactEpochs: c.ExactEpochs}}
}

func TestSplitRangesMatchMegatron(t *testing.T) {
	for _, c := range loadGPTReference(t).Splits {
		got, err := SplitRanges(c.Split, c.Size)
		if err != nil || got != c.Ranges {
			t.Errorf("SplitRanges(%q, %d) = %v, %v; Megatron %v", c.Split, c.Size, got, err, c.Ranges)
		}
	}
	for _, bad := range []string{"", "a,b", "0,0,0", "-1,2", "1,,2"} {
		if _, err := SplitRanges(bad, 10); err == nil || !strings.HasPrefix(err.Error(), "data: --split") {
			t.Errorf("SplitRanges(%q): err = %v, want a --split error", bad, err)
		}
	}
}

// TestGPTIndexFilesMatchMegatron builds every reference case and compares
// the three .npy files with numpy's, byte for byte, and the samples with
// Megatron's __getitem__.
func TestGPTIndexFilesMatchMegatron(t *testing.T) {
	ref := loadGPTReference(t)
	for _, c := range ref.Cases {
		t.Run(c.Case, func(t *testing.T) {
			dir := t.TempDir()
			data, err := OpenIndexed(copyDataset(t, c.Dataset, dir))
			if err != nil {
				t.Fatal(err)
			}
			defer data.Close()
			ranges, err := SplitRanges(c.Split, data.Len())
			if err != nil || ranges != c.Ranges {
				t.Fatalf("split %v, %v; Megatron %v", ranges, err, c.Ranges)
			}
			i := map[string]int{"train": 0, "valid": 1, "test": 2}[c.Name]
			docs := [2]int{ranges[i], ranges[i+1]}
			x, err := BuildGPTIndex(data.Sizes(), docs, c.config().GPTIndexConfig)
			if err != nil {
				t.Fatal(err)
			}
			if x.Epochs != c.Epochs || x.SeparateLastEpoch != c.Separate || x.Samples() != c.TotalSamples {
				t.Fatalf("epochs %d separate %v samples %d; Megatron %d %v %d",
					x.Epochs, x.SeparateLastEpoch, x.Samples(), c.Epochs, c.Separate, c.TotalSamples)
			}
			g, err := NewGPTDataset(data, docs, c.config())
			if err != nil {
				t.Fatal(err)
			}
			defer g.Close()
			for _, kind := range []string{"doc", "sample", "shuffle"} {
				name := c.Files + "_" + kind + "_idx.npy"
				testutil.SameFile(t, filepath.Join(dir, name), filepath.Join(gptRef, c.Case, name))
			}
			compareSamples(t, g, filepath.Join(gptRef, c.Case, "samples.npy"))
		})
	}
}

// compareSamples checks g's first samples against Megatron's.
func compareSamples(t *testing.T, g *GPTDataset, path string) {
	t.Helper()
	f, err := openNpy(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.release()
	rows, width := f.shape[0], f.shape[1]
	if width != g.SeqLength()+1 {
		t.Fatalf("reference samples have %d tokens, dataset %d", width, g.SeqLength()+1)
	}
	dst := make([]int32, width)
	for i := 0; i < rows; i++ {
		if err := g.Sample(int64(i), dst); err != nil {
			t.Fatal(err)
		}
		for k, v := range dst {
			if want := f.view.At(i*width + k); int64(v) != want {
				t.Fatalf("sample %d token %d = %d, Megatron %d", i, k, v, want)
			}
		}
	}
}

// TestGPTDatasetReadsMegatronCache puts numpy's index files beside the data
// and checks they are used as they are.
func TestGPTDatasetReadsMegatronCache(t *testing.T) {
	ref := loadGPTReference(t)
	c := ref.Cases[1]
	dir := t.TempDir()
	data, err := OpenIndexed(copyDataset(t, c.Dataset, dir))
	if err != nil {
		t.Fatal(err)
	}
	defer data.Close()
	var stamps []int64
	for _, kind := range []string{"doc", "sample", "shuffle"} {
		name := c.Files + "_" + kind + "_idx.npy"
		b, _ := os.ReadFile(filepath.Join(gptRef, c.Case, name))
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o444); err != nil {
			t.Fatal(err)
		}
		fi, _ := os.Stat(p)
		stamps = append(stamps, fi.ModTime().UnixNano())
	}
	g, err := NewGPTDataset(data, [2]int{c.Ranges[0], c.Ranges[1]}, c.config())
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	if _, ok := g.Index().ShuffleIdx.(npyView); !ok {
		t.Fatal("the cached maps were not used")
	}
	compareSamples(t, g, filepath.Join(gptRef, c.Case, "samples.npy"))
	for i, kind := range []string{"doc", "sample", "shuffle"} {
		fi, _ := os.Stat(filepath.Join(dir, c.Files+"_"+kind+"_idx.npy"))
		if fi.ModTime().UnixNano() != stamps[i] {
			t.Errorf("%s index file was rewritten", kind)
		}
	}
}

// TestGPTResume: a run that stops after k samples and reopens the dataset
// (now from its cache) sees the same samples from k on.
func TestGPTResume(t *testing.T) {
	c := loadGPTReference(t).Cases[3]
	dir := t.TempDir()
	prefix := copyDataset(t, c.Dataset, dir)
	cfg := GPTSplitConfig{Split: c.Split, SeqLength: c.SeqLength, Seed: c.Seed}
	cfg.NumSamples[1] = c.NumSamples
	read := func(from, to int64) [][]int32 {
		s, err := OpenGPTSplits(prefix, cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		var out [][]int32
		for consumed := from; consumed < to; consumed += 4 {
			for rank := 0; rank < 2; rank++ {
				idx, err := MicroBatch(s.Valid.Len(), consumed, 2, rank, 2)
				if err != nil {
					t.Fatal(err)
				}
				for _, n := range idx {
					dst := make([]int32, c.SeqLength+1)
					if err := s.Valid.Sample(n, dst); err != nil {
						t.Fatal(err)
					}
					out = append(out, dst)
				}
			}
		}
		return out
	}
	whole := read(0, 40)
	resumed := append(read(0, 20), read(20, 40)...)
	for i := range whole {
		if !equalInt32(whole[i], resumed[i]) {
			t.Fatalf("sample %d differs after resume", i)
		}
	}
}

func equalInt32(a, b []int32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestMicroBatch(t *testing.T) {
	idx, err := MicroBatch(100, 8, 2, 1, 3)
	if err != nil || len(idx) != 2 || idx[0] != 10 || idx[1] != 11 {
		t.Fatalf("MicroBatch = %v, %v; want [10 11]", idx, err)
	}
	if _, err := MicroBatch(100, 96, 2, 0, 3); err == nil {
		t.Error("a partial last batch must be dropped")
	}
	if _, err := MicroBatch(100, 0, 2, 3, 3); err == nil {
		t.Error("rank 3 of 3 accepted")
	}
}

func TestGPTDatasetErrors(t *testing.T) {
	c := loadGPTReference(t).Cases[0]
	dir := t.TempDir()
	data, err := OpenIndexed(copyDataset(t, c.Dataset, dir))
	if err != nil {
		t.Fatal(err)
	}
	defer data.Close()
	g, err := NewGPTDataset(data, [2]int{c.Ranges[0], c.Ranges[1]}, c.config())
	if err != nil {
		t.Fatal(err)
	}
	if err := g.Sample(0, make([]int32, 3)); err == nil {
		t.Error("a short buffer was accepted")
	}
	if err := g.Sample(g.Len(), make([]int32, c.SeqLength+1)); err == nil {
		t.Error("a sample past the end was accepted")
	}
	g.Close()
	// A truncated cache file is an error naming it, not a panic.
	doc, _, _ := c.config().IndexFiles(data.Prefix())
	b, _ := os.ReadFile(doc)
	os.WriteFile(doc, b[:len(b)-3], 0o644)
	if _, err := NewGPTDataset(data, [2]int{c.Ranges[0], c.Ranges[1]}, c.config()); err == nil || !strings.Contains(err.Error(), filepath.Base(doc)) {
		t.Errorf("truncated doc_idx: err = %v", err)
	}
	if _, err := BuildGPTIndex(data.Sizes(), [2]int{0, 0}, c.config().GPTIndexConfig); err == nil {
		t.Error("an empty document range was accepted")
	}
}

func TestShuffleDTypeRule(t *testing.T) {
	for _, c := range []struct {
		total int64
		want  string
	}{{0, "<u4"}, {1<<32 - 3, "<u4"}, {1<<32 - 2, "<i8"}, {1 << 33, "<i8"}} {
		if got := shuffleDescr(c.total); got != c.want {
			t.Errorf("shuffleDescr(%d) = %s, want %s", c.total, got, c.want)
		}
	}
}

func TestNpyHeaderMatchesNumpy(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(gptRef, "sep_last", "samples.npy"))
	if err != nil {
		t.Fatal(err)
	}
	descr, shape, off, err := parseNpyHeader(b)
	if err != nil {
		t.Fatal(err)
	}
	if h := npyHeader(descr, shape); !bytes.Equal(h, b[:off]) {
		t.Errorf("header %q, numpy %q", h, b[:off])
	}
}

// FuzzParseNpy: any bytes give an array view of the size they hold, or an
// error.
func FuzzParseNpy(f *testing.F) {
	for _, c := range []string{"sep_last/samples.npy", "sep_last/small_u16_train_indexmap_110ns_16sl_1234s_shuffle_idx.npy"} {
		b, err := os.ReadFile(filepath.Join(gptRef, c))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		v, shape, err := parseNpy(b)
		if err != nil {
			return
		}
		n := 1
		for _, s := range shape {
			n *= s
		}
		if v.Len() != n {
			t.Fatalf("view of %d values for shape %v", v.Len(), shape)
		}
		for i := 0; i < n; i++ {
			v.At(i)
		}
	})
}
