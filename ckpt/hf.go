package ckpt

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// File names of a Hugging Face model directory.
const (
	ConfigName            = "config.json"
	SafetensorsName       = "model.safetensors"
	SafetensorsIndexName  = "model.safetensors.index.json"
	LMHeadName            = "lm_head.weight"
	transformerPrefix     = "transformer."
	pytorchWeightsName    = "pytorch_model.bin"
	pytorchIndexName      = "pytorch_model.bin.index.json"
	safetensorsShardGlob  = "model-?????-of-?????.safetensors"
	safetensorsShardFmt   = "model-%05d-of-%05d.safetensors"
	indexTotalSizeKey     = "total_size"
	defaultSafetensorsFmt = "pt"
)

// HF is an opened Hugging Face BLOOM model directory: its config and its
// weights, safetensors or PyTorch .bin, single-file or sharded. Tensor names are normalized:
// a leading "transformer." is stripped, and lm_head.weight (tied to
// word_embeddings.weight in BLOOM) is kept out of Names. Safe for concurrent
// use; Close releases the files.
type HF struct {
	Config BloomConfig

	dir     string
	files   []*File
	pts     []*Torch            // the .bin files, when the weights are PyTorch's
	tensors map[string]hfTensor // by normalized name, lm_head included
	names   []string            // sorted, without lm_head
}

// hfTensor locates one tensor: the file and its name inside that file
// (a safetensors file, or, pt set, a .bin file's tensor).
type hfTensor struct {
	file *File
	pt   *TorchTensor
	path string // the file holding it
	name string
}

// normalizeName strips the "transformer." prefix HF's BloomForCausalLM uses.
func normalizeName(name string) string { return strings.TrimPrefix(name, transformerPrefix) }

// OpenHF opens a Hugging Face BLOOM model directory: config.json plus either
// model.safetensors or model.safetensors.index.json and the shards it names
// (model.safetensors wins when both exist, as in transformers), else
// PyTorch's pytorch_model.bin or pytorch_model.bin.index.json and its shards
// (torch.save's zip format; their tensors are read as they are asked for).
// Every file is checked on open; errors name the file at fault.
func OpenHF(dir string) (*HF, error) {
	cfg, err := ReadBloomConfig(filepath.Join(dir, ConfigName))
	if err != nil {
		return nil, err
	}
	h := &HF{Config: cfg, dir: dir, tensors: map[string]hfTensor{}}
	single := filepath.Join(dir, SafetensorsName)
	index := filepath.Join(dir, SafetensorsIndexName)
	switch {
	case exists(single):
		err = h.addShard(single, nil)
	case exists(index):
		err = h.openIndex(index, h.addShard)
	case exists(filepath.Join(dir, pytorchWeightsName)):
		err = h.addTorch(filepath.Join(dir, pytorchWeightsName), nil)
	case exists(filepath.Join(dir, pytorchIndexName)):
		err = h.openIndex(filepath.Join(dir, pytorchIndexName), h.addTorch)
	default:
		err = errf(dir, ErrNotFound, "no %s, %s, %s or %s", SafetensorsName, SafetensorsIndexName, pytorchWeightsName, pytorchIndexName)
	}
	if err != nil {
		h.Close()
		return nil, err
	}
	for name := range h.tensors {
		if name != LMHeadName {
			h.names = append(h.names, name)
		}
	}
	slices.Sort(h.names)
	return h, nil
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// sfIndex is model.safetensors.index.json (and pytorch_model.bin.index.json).
type sfIndex struct {
	Metadata  map[string]any    `json:"metadata"`
	WeightMap map[string]string `json:"weight_map"`
}

// openIndex reads a sharded checkpoint's index and opens every shard it
// names with add.
func (h *HF) openIndex(path string, add func(path string, want []string) error) error {
	js, err := os.ReadFile(path)
	if err != nil {
		return ioErr(path, err, "read index")
	}
	var idx sfIndex
	if err := strictUnmarshal(js, &idx); err != nil {
		return wrapf(path, ErrCorrupt, err, "bad index")
	}
	if len(idx.WeightMap) == 0 {
		return errf(path, ErrCorrupt, "weight_map is missing or empty")
	}
	byShard := map[string][]string{} // shard file -> normalized names it should hold
	for name, shard := range idx.WeightMap {
		if shard == "" || shard != filepath.Base(shard) || shard == "." || shard == ".." || strings.ContainsAny(shard, `/\`) {
			return errf(path, ErrCorrupt, "weight_map: tensor %q names shard %q, which is not a file name in this directory", name, shard)
		}
		byShard[shard] = append(byShard[shard], normalizeName(name))
	}
	shards := slices.Sorted(maps.Keys(byShard))
	for _, shard := range shards {
		sp := filepath.Join(h.dir, shard)
		if !exists(sp) {
			return errf(path, ErrNotFound, "shard %s, named in weight_map, does not exist", shard)
		}
		if err := add(sp, byShard[shard]); err != nil {
			return err
		}
	}
	return nil
}

// strictUnmarshal decodes one JSON value and rejects trailing data.
func strictUnmarshal(js []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(js))
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("trailing data after the JSON value")
	}
	return nil
}

// addShard opens one safetensors file and adds its tensors; want lists the
// names the index says it holds (nil for a single-file checkpoint).
func (h *HF) addShard(path string, want []string) error {
	f, err := OpenSafetensors(path)
	if err != nil {
		return err
	}
	h.files = append(h.files, f)
	for _, raw := range f.Names() {
		if err := h.add(hfTensor{file: f, path: path, name: raw}); err != nil {
			return err
		}
	}
	return h.holds(path, want)
}

// add adds tensor t of file t.path under its normalized name; a name
// already taken is corrupt.
func (h *HF) add(t hfTensor) error {
	name := normalizeName(t.name)
	if prev, dup := h.tensors[name]; dup {
		if prev.path == t.path {
			return errf(t.path, ErrCorrupt, "tensors %q and %q are the same after stripping %q", prev.name, t.name, transformerPrefix)
		}
		return errf(t.path, ErrCorrupt, "tensor %q is also in %s", name, filepath.Base(prev.path))
	}
	h.tensors[name] = t
	return nil
}

// holds checks that the file at path holds every tensor in want (the names
// the index places in it).
func (h *HF) holds(path string, want []string) error {
	for _, name := range want {
		if t, ok := h.tensors[name]; !ok || t.path != path {
			return errf(path, ErrNotFound, "tensor %q, which the index places in this shard, is not in it", name)
		}
	}
	return nil
}

// addTorch opens one .bin file (a state dict of tensors, torch.save's zip
// format) and adds its tensors; want as addShard's.
func (h *HF) addTorch(path string, want []string) error {
	pt, err := OpenTorch(path, false)
	if err != nil {
		return err
	}
	h.pts = append(h.pts, pt)
	sd, ok := pt.Root.(*Dict)
	if !ok {
		return errf(path, ErrCorrupt, "holds no state dict (a %T)", pt.Root)
	}
	for i := range sd.Len() {
		k, v := sd.Item(i)
		raw, ok := k.(string)
		t, isTensor := v.(*TorchTensor)
		if !ok || !isTensor {
			return errf(path, ErrCorrupt, "state dict entry %v is a %T, not a named tensor", k, v)
		}
		if err := h.add(hfTensor{pt: t, path: path, name: raw}); err != nil {
			return err
		}
	}
	return h.holds(path, want)
}

// Dir is the directory the model was opened from.
func (h *HF) Dir() string { return h.dir }

// Names lists the normalized tensor names, sorted, without lm_head.weight.
// The caller owns the slice.
func (h *HF) Names() []string { return slices.Clone(h.names) }

// HasLMHead reports whether the checkpoint stores lm_head.weight explicitly.
// BLOOM ties it to word_embeddings.weight, so usually it does not.
func (h *HF) HasLMHead() bool {
	_, ok := h.tensors[LMHeadName]
	return ok
}

// Info describes a tensor by its normalized name (lm_head.weight included).
// Begin and End are offsets in the data section of the shard holding it.
func (h *HF) Info(name string) (TensorInfo, bool) {
	t, ok := h.tensors[name]
	if !ok {
		return TensorInfo{}, false
	}
	if t.pt != nil { // no offsets: a .bin's tensor is a view of a storage record
		return TensorInfo{Name: name, DType: t.pt.DType, Shape: slices.Clone(t.pt.Shape)}, true
	}
	ti, _ := t.file.Info(t.name)
	ti.Name = name
	return ti, true
}

// Shard is the path of the file holding the named tensor.
func (h *HF) Shard(name string) (string, bool) {
	t, ok := h.tensors[name]
	if !ok {
		return "", false
	}
	return t.path, true
}

// Float32 reads a tensor by its normalized name as float32 (see
// File.Float32). It returns a fresh slice and shape owned by the caller.
func (h *HF) Float32(name string) ([]float32, []int, error) {
	t, ok := h.tensors[name]
	if !ok {
		return nil, nil, errf(h.dir, ErrNotFound, "no tensor %q", name)
	}
	if t.pt != nil {
		data, err := t.pt.Float32()
		if err != nil {
			return nil, nil, wrapf(t.path, kindOf(err), err, "tensor %q", t.name)
		}
		return data, slices.Clone(t.pt.Shape), nil
	}
	return t.file.Float32(t.name)
}

// Stream sets every shard streaming (File.Stream).
func (h *HF) Stream() {
	for _, f := range h.files {
		f.Stream()
	}
}

// Evict drops a tensor's pages from this process's resident set (see
// File.Evict).
func (h *HF) Evict(name string) {
	if t, ok := h.tensors[name]; ok && t.file != nil {
		t.file.Evict(t.name)
	}
}

// Close closes every shard.
func (h *HF) Close() error {
	var errs []error
	for _, f := range h.files {
		errs = append(errs, f.Close())
	}
	for _, pt := range h.pts {
		errs = append(errs, pt.Close())
	}
	return errors.Join(errs...)
}
