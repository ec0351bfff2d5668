package ckpt

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// tinyConfig is a valid small BLOOM config.
func tinyConfig() BloomConfig {
	c := DefaultBloomConfig()
	c.VocabSize, c.HiddenSize, c.NLayer, c.NHead = 16, 8, 2, 2
	return c
}

// tinyTensors is a BLOOM-named tensor set for tinyConfig (not every tensor,
// enough to exercise names and sizes).
func tinyTensors(prefix string) []Tensor {
	return []Tensor{
		{Name: prefix + "word_embeddings.weight", Shape: []int{16, 8}, Data: seq(128)},
		{Name: prefix + "word_embeddings_layernorm.weight", Shape: []int{8}, Data: seq(8)},
		{Name: prefix + "h.0.self_attention.query_key_value.weight", Shape: []int{24, 8}, Data: seq(192)},
		{Name: prefix + "h.1.mlp.dense_4h_to_h.bias", Shape: []int{8}, Data: seq(8)},
		{Name: prefix + "ln_f.weight", Shape: []int{8}, Data: seq(8)},
	}
}

func sortedNames(ts []Tensor, strip string) []string {
	var out []string
	for _, t := range ts {
		out = append(out, strings.TrimPrefix(t.Name, strip))
	}
	slices.Sort(out)
	return out
}

func checkHF(t *testing.T, dir string, want []Tensor, strip string) *HF {
	t.Helper()
	h, err := OpenHF(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	if got := h.Names(); !slices.Equal(got, sortedNames(want, strip)) {
		t.Fatalf("Names = %v, want %v", got, sortedNames(want, strip))
	}
	for _, w := range want {
		name := strings.TrimPrefix(w.Name, strip)
		got, shape, err := h.Float32(name)
		if err != nil || !slices.Equal(got, w.Data) || !shapeEq(shape, w.Shape) {
			t.Fatalf("%s: %v %v", name, shape, err)
		}
		ti, ok := h.Info(name)
		if !ok || ti.Name != name || !shapeEq(ti.Shape, w.Shape) {
			t.Fatalf("Info(%s) = %+v, %v", name, ti, ok)
		}
	}
	return h
}

func TestSaveOpenSingle(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "model")
	ts := tinyTensors("")
	if err := SaveHF(dir, tinyConfig(), BF16, ts, 0); err != nil {
		t.Fatal(err)
	}
	if got := dirNames(t, dir); !slices.Equal(got, []string{ConfigName, SafetensorsName}) {
		t.Fatalf("dir holds %v", got)
	}
	h := checkHF(t, dir, ts, "")
	if !configEq(h.Config, tinyConfig()) {
		t.Fatalf("config %+v", h.Config)
	}
	// torch_dtype names the weights' type, whatever the config said before.
	for dt, want := range map[DType]string{BF16: "bfloat16", F16: "float16", F32: "float32"} {
		cfg := tinyConfig()
		cfg.Raw = map[string]any{"torch_dtype": "float16"}
		d := filepath.Join(t.TempDir(), "m")
		if err := SaveHF(d, cfg, dt, ts, 0); err != nil {
			t.Fatal(err)
		}
		if c, err := ReadBloomConfig(filepath.Join(d, ConfigName)); err != nil || c.Raw["torch_dtype"] != want {
			t.Errorf("saved as %v: torch_dtype %v (%v), want %q", dt, c.Raw["torch_dtype"], err, want)
		}
	}
	if h.HasLMHead() {
		t.Error("HasLMHead without lm_head")
	}
	f, _ := OpenSafetensors(filepath.Join(dir, SafetensorsName))
	defer f.Close()
	if f.Metadata()["format"] != "pt" {
		t.Errorf("metadata %v", f.Metadata())
	}
	_, _, err := h.Float32("h.9.nope")
	wantErr(t, err, ErrNotFound, "h.9.nope")
}

func TestSaveOpenSharded(t *testing.T) {
	dir := t.TempDir()
	ts := tinyTensors("")
	// BF16 sizes: 256, 16, 384, 16, 16 bytes. With 400: [256 16] [384 16] [16].
	if err := SaveHF(dir, tinyConfig(), BF16, ts, 400); err != nil {
		t.Fatal(err)
	}
	want := []string{ConfigName, "model-00001-of-00003.safetensors", "model-00002-of-00003.safetensors",
		"model-00003-of-00003.safetensors", SafetensorsIndexName}
	if got := dirNames(t, dir); !slices.Equal(got, want) {
		t.Fatalf("dir holds %v, want %v", got, want)
	}
	var idx struct {
		Metadata  map[string]int64  `json:"metadata"`
		WeightMap map[string]string `json:"weight_map"`
	}
	js, _ := os.ReadFile(filepath.Join(dir, SafetensorsIndexName))
	if err := json.Unmarshal(js, &idx); err != nil {
		t.Fatal(err)
	}
	if idx.Metadata["total_size"] != 688 {
		t.Errorf("total_size = %d, want 688", idx.Metadata["total_size"])
	}
	if idx.WeightMap["h.0.self_attention.query_key_value.weight"] != "model-00002-of-00003.safetensors" ||
		idx.WeightMap["ln_f.weight"] != "model-00003-of-00003.safetensors" || len(idx.WeightMap) != 5 {
		t.Errorf("weight_map = %v", idx.WeightMap)
	}
	h := checkHF(t, dir, ts, "")
	if p, _ := h.Shard("ln_f.weight"); filepath.Base(p) != "model-00003-of-00003.safetensors" {
		t.Errorf("Shard(ln_f.weight) = %s", p)
	}
	h.Close()

	// Saving again unsharded removes the stale shards and index.
	if err := SaveHF(dir, tinyConfig(), F32, ts, 1<<20); err != nil {
		t.Fatal(err)
	}
	if got := dirNames(t, dir); !slices.Equal(got, []string{ConfigName, SafetensorsName}) {
		t.Fatalf("after re-save dir holds %v", got)
	}
	// And sharded again removes model.safetensors: [256 16] [384] [16 16].
	if err := SaveHF(dir, tinyConfig(), F16, ts, 300); err != nil {
		t.Fatal(err)
	}
	if got := dirNames(t, dir); slices.Contains(got, SafetensorsName) || len(got) != 2+3 {
		t.Fatalf("after sharded re-save dir holds %v", got)
	}
	checkHF(t, dir, ts, "")
}

func TestPlanShardsBigTensor(t *testing.T) {
	ts := []Tensor{{Name: "a", Data: seq(10)}, {Name: "b", Data: seq(100)}, {Name: "c", Data: seq(1)}, {Name: "d", Data: seq(1)}}
	shards, total := planShards(ts, 4, 50)
	var sizes []int
	for _, s := range shards {
		sizes = append(sizes, len(s))
	}
	if !slices.Equal(sizes, []int{1, 1, 2}) || total != 448 {
		t.Fatalf("shards %v total %d", sizes, total)
	}
}

func TestTransformerPrefixAndLMHead(t *testing.T) {
	dir := t.TempDir()
	ts := append(tinyTensors("transformer."), Tensor{Name: "lm_head.weight", Shape: []int{16, 8}, Data: seq(128)[1:]})
	ts[len(ts)-1].Data = append(ts[len(ts)-1].Data, 7)
	if err := SaveHF(dir, tinyConfig(), F32, ts, 0); err != nil {
		t.Fatal(err)
	}
	h := checkHF(t, dir, ts[:len(ts)-1], "transformer.")
	if !h.HasLMHead() || slices.Contains(h.Names(), "lm_head.weight") {
		t.Fatalf("lm_head: has %v, names %v", h.HasLMHead(), h.Names())
	}
	got, _, err := h.Float32("lm_head.weight")
	if err != nil || got[127] != 7 {
		t.Fatalf("lm_head: %v", err)
	}
	if _, ok := h.Info("transformer.ln_f.weight"); ok {
		t.Error("prefixed name still resolves")
	}
}

// writeShard writes a safetensors shard with the given names, each F32 [1].
func writeShard(t *testing.T, path string, names ...string) {
	t.Helper()
	var ts []Tensor
	for _, n := range names {
		ts = append(ts, Tensor{Name: n, Shape: []int{1}, Data: []float32{1}})
	}
	if err := WriteSafetensors(path, F32, ts, nil, nil); err != nil {
		t.Fatal(err)
	}
}

func writeIndex(t *testing.T, dir string, weightMap map[string]string) {
	t.Helper()
	js, _ := json.Marshal(map[string]any{"metadata": map[string]any{"total_size": 8}, "weight_map": weightMap})
	if err := os.WriteFile(filepath.Join(dir, SafetensorsIndexName), js, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestOpenHFErrors(t *testing.T) {
	newDir := func(t *testing.T) string {
		dir := t.TempDir()
		if err := tinyConfig().WriteFile(filepath.Join(dir, ConfigName)); err != nil {
			t.Fatal(err)
		}
		return dir
	}
	t.Run("no config", func(t *testing.T) {
		_, err := OpenHF(t.TempDir())
		wantErr(t, err, ErrNotFound, ConfigName)
	})
	t.Run("no weights", func(t *testing.T) {
		_, err := OpenHF(newDir(t))
		wantErr(t, err, ErrNotFound, SafetensorsName, SafetensorsIndexName, "pytorch_model.bin")
	})
	t.Run("pytorch not zip", func(t *testing.T) {
		dir := newDir(t)
		os.WriteFile(filepath.Join(dir, "pytorch_model.bin"), []byte("x"), 0o644)
		_, err := OpenHF(dir)
		wantErr(t, err, ErrUnsupported, "pytorch_model.bin", "zip")
	})
	t.Run("missing shard", func(t *testing.T) {
		dir := newDir(t)
		writeShard(t, filepath.Join(dir, "a.safetensors"), "x")
		writeIndex(t, dir, map[string]string{"x": "a.safetensors", "y": "b.safetensors"})
		_, err := OpenHF(dir)
		wantErr(t, err, ErrNotFound, SafetensorsIndexName, "b.safetensors")
	})
	t.Run("tensor absent from its shard", func(t *testing.T) {
		dir := newDir(t)
		writeShard(t, filepath.Join(dir, "a.safetensors"), "x")
		writeIndex(t, dir, map[string]string{"x": "a.safetensors", "y": "a.safetensors"})
		_, err := OpenHF(dir)
		wantErr(t, err, ErrNotFound, "a.safetensors", `"y"`)
	})
	t.Run("tensor in another shard than indexed", func(t *testing.T) {
		dir := newDir(t)
		writeShard(t, filepath.Join(dir, "a.safetensors"), "x")
		writeShard(t, filepath.Join(dir, "b.safetensors"), "y", "z")
		writeIndex(t, dir, map[string]string{"x": "a.safetensors", "y": "b.safetensors", "z": "a.safetensors"})
		_, err := OpenHF(dir)
		wantErr(t, err, ErrNotFound, "a.safetensors", `"z"`)
	})
	t.Run("same tensor in two shards", func(t *testing.T) {
		dir := newDir(t)
		writeShard(t, filepath.Join(dir, "a.safetensors"), "x", "y")
		writeShard(t, filepath.Join(dir, "b.safetensors"), "transformer.y")
		writeIndex(t, dir, map[string]string{"x": "a.safetensors", "transformer.y": "b.safetensors"})
		_, err := OpenHF(dir)
		wantErr(t, err, ErrCorrupt, "b.safetensors", `"y"`, "a.safetensors")
	})
	t.Run("prefixed and bare in one file", func(t *testing.T) {
		dir := newDir(t)
		writeShard(t, filepath.Join(dir, SafetensorsName), "ln_f.weight", "transformer.ln_f.weight")
		_, err := OpenHF(dir)
		wantErr(t, err, ErrCorrupt, SafetensorsName, "ln_f.weight")
	})
	t.Run("shard path escapes", func(t *testing.T) {
		dir := newDir(t)
		writeIndex(t, dir, map[string]string{"x": "../a.safetensors"})
		_, err := OpenHF(dir)
		wantErr(t, err, ErrCorrupt, SafetensorsIndexName, "../a.safetensors")
	})
	t.Run("bad index JSON", func(t *testing.T) {
		dir := newDir(t)
		os.WriteFile(filepath.Join(dir, SafetensorsIndexName), []byte(`{"weight_map": [1]}`), 0o644)
		_, err := OpenHF(dir)
		wantErr(t, err, ErrCorrupt, SafetensorsIndexName)
	})
	t.Run("empty weight_map", func(t *testing.T) {
		dir := newDir(t)
		writeIndex(t, dir, map[string]string{})
		_, err := OpenHF(dir)
		wantErr(t, err, ErrCorrupt, SafetensorsIndexName, "weight_map")
	})
	t.Run("corrupt shard", func(t *testing.T) {
		dir := newDir(t)
		os.WriteFile(filepath.Join(dir, "a.safetensors"), []byte("short"), 0o644)
		writeIndex(t, dir, map[string]string{"x": "a.safetensors"})
		_, err := OpenHF(dir)
		wantErr(t, err, ErrCorrupt, "a.safetensors", "too short")
	})
	t.Run("bad config", func(t *testing.T) {
		dir := t.TempDir()
		os.WriteFile(filepath.Join(dir, ConfigName), []byte(`{"model_type": "llama"}`), 0o644)
		_, err := OpenHF(dir)
		wantErr(t, err, ErrConfig, ConfigName, "llama")
	})
}

func TestSaveHFErrors(t *testing.T) {
	dir := t.TempDir()
	err := SaveHF(dir, tinyConfig(), F64, nil, 0)
	wantErr(t, err, ErrDType, "F64")
	ts := tinyTensors("")
	ts = append(ts, ts[0])
	err = SaveHF(dir, tinyConfig(), F32, ts, 100)
	wantErr(t, err, ErrInvalid, "duplicate", "word_embeddings.weight")
	bad := tinyConfig()
	bad.NHead = 3
	err = SaveHF(dir, bad, F32, nil, 0)
	wantErr(t, err, ErrConfig)
	if got := dirNames(t, dir); len(got) != 0 {
		t.Fatalf("failed saves left %v", got)
	}
}

// hfBinNames are the tensors of testdata/torch/hf_bin*, in the order
// scripts/torchpt/gen_fixtures.py numbers them (HF_SHAPES).
func hfBinNames() []string {
	names := []string{"word_embeddings.weight", "word_embeddings_layernorm.weight", "word_embeddings_layernorm.bias"}
	for l := range 2 {
		for _, n := range []string{"input_layernorm.weight", "input_layernorm.bias", "self_attention.query_key_value.weight",
			"self_attention.query_key_value.bias", "self_attention.dense.weight", "self_attention.dense.bias",
			"post_attention_layernorm.weight", "post_attention_layernorm.bias", "mlp.dense_h_to_4h.weight",
			"mlp.dense_h_to_4h.bias", "mlp.dense_4h_to_h.weight", "mlp.dense_4h_to_h.bias"} {
			names = append(names, fmt.Sprintf("h.%d.%s", l, n))
		}
	}
	return append(names, "ln_f.weight", "ln_f.bias")
}

// TestOpenHFPytorchBin: directories with PyTorch weights only, as torch.save
// wrote them (scripts/torchpt/gen_fixtures.py): pytorch_model.bin in fp16
// under "transformer." with lm_head.weight sharing the embedding's storage,
// and two float32 shards with pytorch_model.bin.index.json. Every tensor
// has its name, shape, type and values (tensor k: (i − k)/4).
func TestOpenHFPytorchBin(t *testing.T) {
	for _, c := range []struct {
		dir    string
		dtype  DType
		lmHead bool
	}{{"testdata/torch/hf_bin", F16, true}, {"testdata/torch/hf_bin_sharded", F32, false}} {
		h, err := OpenHF(c.dir)
		if err != nil {
			t.Fatal(err)
		}
		want := hfBinNames()
		if got := h.Names(); !slices.Equal(got, slices.Sorted(slices.Values(want))) || h.HasLMHead() != c.lmHead {
			t.Errorf("%s: names %v (lm_head %v)", c.dir, got, h.HasLMHead())
		}
		for k, name := range want {
			data, shape, err := h.Float32(name)
			ti, ok := h.Info(name)
			if err != nil || !ok || ti.DType != c.dtype || !slices.Equal(ti.Shape, shape) || len(data) != ti.NumElements() {
				t.Fatalf("%s %s: %v, info %+v %v, shape %v", c.dir, name, err, ti, ok, shape)
			}
			for i, v := range data {
				if v != float32(i-k)/4 {
					t.Fatalf("%s %s[%d] = %v, want %v", c.dir, name, i, v, float32(i-k)/4)
				}
			}
		}
		if c.lmHead {
			head, _, err1 := h.Float32(LMHeadName)
			emb, _, err2 := h.Float32("word_embeddings.weight")
			if err1 != nil || err2 != nil || !slices.Equal(head, emb) {
				t.Errorf("lm_head: %v %v", err1, err2)
			}
		}
		if err := h.Close(); err != nil {
			t.Error(err)
		}
	}
}
