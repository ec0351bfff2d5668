package deepspeed

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"bloom/ckpt"
)

// tinyHF writes a random BLOOM (layers blocks, hidden 8, 2 heads, vocab 20)
// as an HF directory and opens it.
func tinyHF(t *testing.T, layers int) *ckpt.HF {
	t.Helper()
	cfg := ckpt.DefaultBloomConfig()
	cfg.VocabSize, cfg.HiddenSize, cfg.NHead, cfg.NLayer = 20, 8, 2, layers
	h := cfg.HiddenSize
	r := rand.New(rand.NewPCG(1, 2))
	var ts []ckpt.Tensor
	add := func(name string, shape ...int) {
		n := 1
		for _, d := range shape {
			n *= d
		}
		data := make([]float32, n)
		for i := range data {
			data[i] = r.Float32()*2 - 1
		}
		ts = append(ts, ckpt.Tensor{Name: name, Shape: shape, Data: data})
	}
	add("word_embeddings.weight", cfg.VocabSize, h)
	add("word_embeddings_layernorm.weight", h)
	add("word_embeddings_layernorm.bias", h)
	for i := range layers {
		p := fmt.Sprintf("h.%d.", i)
		add(p+"input_layernorm.weight", h)
		add(p+"input_layernorm.bias", h)
		add(p+"self_attention.query_key_value.weight", 3*h, h)
		add(p+"self_attention.query_key_value.bias", 3*h)
		add(p+"self_attention.dense.weight", h, h)
		add(p+"self_attention.dense.bias", h)
		add(p+"post_attention_layernorm.weight", h)
		add(p+"post_attention_layernorm.bias", h)
		add(p+"mlp.dense_h_to_4h.weight", 4*h, h)
		add(p+"mlp.dense_h_to_4h.bias", 4*h)
		add(p+"mlp.dense_4h_to_h.weight", h, 4*h)
		add(p+"mlp.dense_4h_to_h.bias", h)
	}
	add("ln_f.weight", h)
	add("ln_f.bias", h)
	dir := filepath.Join(t.TempDir(), "hf")
	if err := ckpt.SaveHF(dir, cfg, ckpt.F32, ts, 0); err != nil {
		t.Fatal(err)
	}
	hf, err := ckpt.OpenHF(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { hf.Close() })
	return hf
}

func sameTensors(t *testing.T, a, b Source) {
	t.Helper()
	an, bn := a.Names(), b.Names()
	slices.Sort(an)
	slices.Sort(bn)
	if !slices.Equal(an, bn) {
		t.Fatalf("names differ:\n%v\n%v", an, bn)
	}
	for _, n := range a.Names() {
		x, xs, err1 := a.Float32(n)
		y, ys, err2 := b.Float32(n)
		if err1 != nil || err2 != nil {
			t.Fatal(err1, err2)
		}
		if !slices.Equal(xs, ys) || !slices.Equal(x, y) {
			t.Errorf("%s differs: shapes %v and %v", n, xs, ys)
		}
	}
}

// TestRoundTripHFAscendSpeed: HF → layer files (several TP×PP layouts, the
// vocab padded) → HF names, tensor-identical in F32.
func TestRoundTripHFAscendSpeed(t *testing.T) {
	hf := tinyHF(t, 3)
	for _, l := range []Layout{{TP: 1, PP: 1}, {TP: 2, PP: 3, PartitionLayers: []int{1, 1, 1}}, {TP: 2, PP: 2}} {
		t.Run(fmt.Sprintf("TP%dPP%d", l.TP, l.PP), func(t *testing.T) {
			dir := t.TempDir()
			var seen []string
			o := WriteOptions{DType: ckpt.F32, DivisibleBy: 8, Progress: func(n, total int, file, key string) {
				seen = append(seen, fmt.Sprintf("%d/%d", n, total))
			}}
			if err := Write(dir, hf, hf.Config, l, o); err != nil {
				t.Fatal(err)
			}
			if want := fmt.Sprintf("%d/%d", len(hf.Names())*l.TP, len(hf.Names())*l.TP); seen[len(seen)-1] != want {
				t.Errorf("progress ends at %s, want %s", seen[len(seen)-1], want)
			}
			b, _ := os.ReadFile(filepath.Join(dir, "latest"))
			if strings.TrimSpace(string(b)) != "release" {
				t.Errorf("latest = %q", b)
			}
			for _, f := range []string{LayerFileName(1, l.TP-1), LayerFileName(5, 0), LayerFileName(7, l.TP-1),
				ModelStatesName(l.TP*l.PP - 1)} {
				if _, err := os.Stat(filepath.Join(dir, "release", f)); err != nil {
					t.Error(err)
				}
			}
			c, err := Open(dir, ckpt.BloomConfig{})
			if err != nil {
				t.Fatal(err)
			}
			if c.TP != l.TP || c.Layers != 3 || c.Config.VocabSize != 20 || c.Config.NHead != 2 || c.Config.HiddenSize != 8 {
				t.Errorf("read back TP %d, %d layers, config %+v", c.TP, c.Layers, c.Config)
			}
			sameTensors(t, hf, c)
		})
	}
}

// TestSplitRules checks the parts against the seed's rules directly: rank
// r of TP 2 holds rows [r·n/2, (r+1)·n/2) of qkv, columns of dense, and the
// embedding padded with copies of its last rows.
func TestSplitRules(t *testing.T) {
	hf := tinyHF(t, 1)
	dir := t.TempDir()
	if err := Write(dir, hf, hf.Config, Layout{TP: 2, PP: 1}, WriteOptions{DType: ckpt.F32, DivisibleBy: 16}); err != nil {
		t.Fatal(err)
	}
	full, _, _ := hf.Float32("h.0.self_attention.dense.weight") // [8, 8]
	part, shape, err := readTensor(filepath.Join(dir, "release", LayerFileName(3, 1)), "self_attention.dense.weight", false)
	if err != nil || !slices.Equal(shape, []int{8, 4}) {
		t.Fatal(shape, err)
	}
	for i := range 8 {
		if !slices.Equal(part[i*4:i*4+4], full[i*8+4:i*8+8]) {
			t.Fatalf("dense row %d: %v, want columns 4..8 of %v", i, part[i*4:i*4+4], full[i*8:i*8+8])
		}
	}
	qkv, _, _ := hf.Float32("h.0.self_attention.query_key_value.weight") // [24, 8]
	part, shape, _ = readTensor(filepath.Join(dir, "release", LayerFileName(3, 1)), "self_attention.query_key_value.weight", false)
	if !slices.Equal(shape, []int{12, 8}) || !slices.Equal(part, qkv[12*8:]) {
		t.Errorf("qkv part %v", shape)
	}
	emb, _, _ := hf.Float32("word_embeddings.weight") // [20, 8] → padded to 32
	part, shape, _ = readTensor(filepath.Join(dir, "release", LayerFileName(1, 1)), "word_embeddings.weight", false)
	if !slices.Equal(shape, []int{16, 8}) || !slices.Equal(part[:4*8], emb[16*8:]) || !slices.Equal(part[4*8:], emb[8*8:]) {
		t.Errorf("embedding part %v: want rows 16..20 then copies of the last 12 rows", shape)
	}
}

func TestLayoutErrors(t *testing.T) {
	hf := tinyHF(t, 3)
	for _, l := range []Layout{{TP: 3, PP: 1}, {TP: 1, PP: 2, PartitionLayers: []int{2, 2}}, {TP: 1, PP: 4}, {TP: 0, PP: 1}} {
		err := Write(t.TempDir(), hf, hf.Config, l, WriteOptions{})
		if !errors.Is(err, ErrLayout) {
			t.Errorf("%+v: %v, want ErrLayout", l, err)
		} else {
			t.Log(err)
		}
	}
	if _, err := Open(t.TempDir(), ckpt.BloomConfig{}); !errors.Is(err, ErrLayout) {
		t.Errorf("empty dir: %v", err)
	}
}

// goldenHF is the Hugging Face model scripts/ascendspeed/gen_release.py
// converted.
const goldenHF = "../../trainer/testdata/golden/h4"

// TestReadRelease reads the seed converter's own output, written by torch
// (scripts/ascendspeed/gen_release.py: the golden model at TP2×PP2, its
// vocabulary 96 padded to 120 with copies of the last rows, the parts saved
// as views of whole storages): TP and PP come from the files, and with the
// vocabulary from the config every tensor is the golden model's, bit for
// bit in F32.
func TestReadRelease(t *testing.T) {
	if !IsPipeline("testdata/release") || IsPipeline("testdata/universal") {
		t.Fatal("IsPipeline")
	}
	base, err := ckpt.ReadBloomConfig(filepath.Join(goldenHF, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	c, err := Open("testdata/release", base)
	if err != nil {
		t.Fatal(err)
	}
	if c.TP != 2 || c.Layers != 2 || c.Config.VocabSize != 96 || c.Config.NHead != 4 || c.Config.HiddenSize != 32 {
		t.Errorf("TP %d, %d layers, config %+v", c.TP, c.Layers, c.Config)
	}
	hf, err := ckpt.OpenHF(goldenHF)
	if err != nil {
		t.Fatal(err)
	}
	defer hf.Close()
	sameTensors(t, hf, c)

	base.VocabSize = 0
	c, err = Open("testdata/release", base)
	if err != nil {
		t.Fatal(err)
	}
	if emb, shape, err := c.Float32("word_embeddings.weight"); err != nil || !slices.Equal(shape, []int{120, 32}) {
		t.Errorf("without a vocabulary: embedding %v (%v), want the padded 120 rows", shape, err)
	} else if want, _, _ := hf.Float32("word_embeddings.weight"); !slices.Equal(emb[96*32:], want[72*32:]) {
		t.Error("padding rows are not copies of the last 24 rows")
	}
}

// evictCounter is an HF source that counts Evict calls by name.
type evictCounter struct {
	*ckpt.HF
	evicted map[string]int
}

func (e evictCounter) Evict(name string) { e.evicted[name]++; e.HF.Evict(name) }

// plainSource hides HF's Evict and Info.
type plainSource struct{ hf *ckpt.HF }

func (p plainSource) Names() []string                               { return p.hf.Names() }
func (p plainSource) Float32(name string) ([]float32, []int, error) { return p.hf.Float32(name) }

// TestWriteEvicts: Write tells a source with Evict that each tensor's pages
// may go after each of its TP reads, and writes the same bytes as from a
// source without it.
func TestWriteEvicts(t *testing.T) {
	hf := tinyHF(t, 3)
	l := Layout{TP: 2, PP: 3}
	o := WriteOptions{DType: ckpt.BF16, DivisibleBy: 8}
	a, b := t.TempDir(), t.TempDir()
	src := evictCounter{hf, map[string]int{}}
	if err := Write(a, src, hf.Config, l, o); err != nil {
		t.Fatal(err)
	}
	if err := Write(b, plainSource{hf}, hf.Config, l, o); err != nil {
		t.Fatal(err)
	}
	for _, name := range hf.Names() {
		if src.evicted[name] != l.TP {
			t.Errorf("%s evicted %d times, want %d", name, src.evicted[name], l.TP)
		}
	}
	files, _ := filepath.Glob(filepath.Join(a, "release", "*"))
	if len(files) == 0 {
		t.Fatal("no files written")
	}
	for _, f := range files {
		x, _ := os.ReadFile(f)
		y, err := os.ReadFile(filepath.Join(b, "release", filepath.Base(f)))
		if err != nil || !bytes.Equal(x, y) {
			t.Errorf("%s differs: %v", filepath.Base(f), err)
		}
	}
}
