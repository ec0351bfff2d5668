package deepspeed

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"bloom/ckpt"
)

// Checkpoint is an open DeepSpeed pipeline checkpoint (layer files). It is
// a Source: tensors come back whole, under Hugging Face names, their
// tensor-parallel parts joined, the embedding cut back to the HF vocab
// when the client state says what it was.
type Checkpoint struct {
	Dir    string // the tag folder the files are in
	TP     int    // tensor-parallel ranks of the files
	Layers int
	// Config is the model's config: from the client state when it carries
	// one (files bloom wrote, or Megatron's args), else what Open was given
	// with the hidden size and layer count from the files.
	Config ckpt.BloomConfig
	State  ClientState // from mp_rank_00_model_states.pt, when present
	// PaddedVocab is the embedding's rows as stored (the vocabulary the
	// run trained with, padded).
	PaddedVocab int

	files  map[int][]string // layer files: spec index → file per TP rank
	nested bool             // the files are the seed converter's mp_rank files: state dict under module.module
	names  []string
	where  map[string]tensorLoc
	vocab  int // rows of the embedding to keep (0: all)
}

// tensorLoc is where a tensor's tensor-parallel parts are.
type tensorLoc struct {
	key   string   // the layer key, which says how TP cuts it
	files []string // per TP rank
	keys  []string // the key in each file's state dict
}

// Open opens the pipeline checkpoint in dir: a save directory with a
// "latest" file naming its tag, or the tag folder itself. base supplies
// what the files cannot: the head count (and token ids) when the client
// state has no config; its vocab size, if not zero, cuts padding rows.
func Open(dir string, base ckpt.BloomConfig) (*Checkpoint, error) {
	dir = tagDir(dir)
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("deepspeed: %w", err)
	}
	c := &Checkpoint{Dir: dir, files: map[int][]string{}, where: map[string]tensorLoc{}}
	for _, e := range ents {
		if idx, tp, ok := parseLayerFile(e.Name()); ok {
			for len(c.files[idx]) <= tp {
				c.files[idx] = append(c.files[idx], "")
			}
			c.files[idx][tp] = e.Name()
		}
	}
	if len(c.files) == 0 {
		if err := c.openRelease(); err != nil {
			return nil, err
		}
		return c, c.readState(base)
	}
	if err := c.shape(); err != nil {
		return nil, err
	}
	if err := c.index(); err != nil {
		return nil, err
	}
	return c, c.readState(base)
}

// tagDir resolves a save directory to the folder its "latest" names.
func tagDir(dir string) string {
	if b, err := os.ReadFile(filepath.Join(dir, "latest")); err == nil {
		if tag := strings.TrimSpace(string(b)); tag != "" {
			return filepath.Join(dir, tag)
		}
	}
	return dir
}

// shape finds the TP size and the block count from the file names.
func (c *Checkpoint) shape() error {
	c.TP = -1
	maxIdx := 0
	for idx, fs := range c.files {
		if c.TP >= 0 && len(fs) != c.TP || slices.Contains(fs, "") {
			return fmt.Errorf("%w: %s: layer %d has files for %d tensor-parallel ranks, others %d (or one is missing)", ErrLayout, c.Dir, idx, len(fs), c.TP)
		}
		c.TP = len(fs)
		maxIdx = max(maxIdx, idx)
	}
	c.Layers = maxIdx - 4 // the final norm is at L+4
	for i := range c.Layers {
		if c.files[i+firstBlock] == nil {
			return fmt.Errorf("%w: %s: no layer file for block %d (layer_%02d)", ErrLayout, c.Dir, i, i+firstBlock)
		}
	}
	if c.Layers < 1 || c.files[embedIndex] == nil {
		return fmt.Errorf("%w: %s: no embedding (layer_01) or final norm file", ErrLayout, c.Dir)
	}
	return nil
}

// index lists the HF names, in layer order, from rank 0's files.
func (c *Checkpoint) index() error {
	idxs := make([]int, 0, len(c.files))
	for idx := range c.files {
		idxs = append(idxs, idx)
	}
	slices.Sort(idxs)
	for _, idx := range idxs {
		pt, err := ckpt.OpenTorch(filepath.Join(c.Dir, c.files[idx][0]), false)
		if err != nil {
			return err
		}
		sd, ok := pt.Root.(*ckpt.Dict)
		pt.Close()
		if !ok {
			return fmt.Errorf("%w: %s is a %T, not a state dict", ErrLayout, c.files[idx][0], pt.Root)
		}
		for _, k := range sd.Keys() {
			key, _ := k.(string)
			name, err := hfName(idx, key, c.Layers)
			if err != nil {
				return fmt.Errorf("%s: %w", c.files[idx][0], err)
			}
			loc := tensorLoc{key: key}
			for _, f := range c.files[idx] {
				loc.files, loc.keys = append(loc.files, f), append(loc.keys, key)
			}
			c.names = append(c.names, name)
			c.where[name] = loc
		}
	}
	return nil
}

// Names lists the tensors under Hugging Face names.
func (c *Checkpoint) Names() []string { return slices.Clone(c.names) }

// Float32 reads the whole tensor name (HF name): every tensor-parallel
// part, joined. Memory: the parts and the result.
func (c *Checkpoint) Float32(name string) ([]float32, []int, error) {
	w, ok := c.where[name]
	if !ok {
		return nil, nil, fmt.Errorf("%w: %s: no tensor %q", ckpt.ErrNotFound, c.Dir, name)
	}
	key := w.key
	parts := make([][]float32, c.TP)
	shapes := make([][]int, c.TP)
	for tp, f := range w.files {
		var err error
		if parts[tp], shapes[tp], err = readTensor(filepath.Join(c.Dir, f), w.keys[tp], c.nested); err != nil {
			return nil, nil, err
		}
	}
	data, shape, err := merge(parts, shapes, splitOf(key))
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %s: %w", c.Dir, name, err)
	}
	if key == "word_embeddings.weight" && c.vocab > 0 && c.vocab < shape[0] {
		data, shape = data[:c.vocab*shape[1]], []int{c.vocab, shape[1]}
	}
	return data, shape, nil
}

// readTensor reads one tensor of a state-dict file (nested: the seed
// converter's, the state dict under module.module).
func readTensor(path, key string, nested bool) ([]float32, []int, error) {
	pt, err := ckpt.OpenTorch(path, false)
	if err != nil {
		return nil, nil, err
	}
	defer pt.Close()
	sd, err := stateDict(pt, nested)
	if err != nil {
		return nil, nil, err
	}
	v, _ := sd.Get(key)
	t, ok := v.(*ckpt.TorchTensor)
	if !ok {
		return nil, nil, fmt.Errorf("%w: %s has no tensor %q", ckpt.ErrNotFound, path, key)
	}
	data, err := t.Float32()
	return data, t.Shape, err
}

// stateDict is the state dict of an open file: its root, or (nested) the
// seed converter's root['module']['module'].
func stateDict(pt *ckpt.Torch, nested bool) (*ckpt.Dict, error) {
	v := pt.Root
	if nested {
		v = moduleDict(v)
	}
	sd, ok := v.(*ckpt.Dict)
	if !ok {
		return nil, fmt.Errorf("%w: %s holds no state dict (a %T)", ErrLayout, pt.Path(), v)
	}
	return sd, nil
}

// moduleDict is root['module']['module'], or nil.
func moduleDict(root any) any {
	for range 2 {
		d, ok := root.(*ckpt.Dict)
		if !ok {
			return nil
		}
		root, _ = d.Get("module")
	}
	return root
}

// Shape is the whole tensor name's shape (HF name), from the files'
// metadata: no data is read.
func (c *Checkpoint) Shape(name string) ([]int, error) {
	w, ok := c.where[name]
	if !ok {
		return nil, fmt.Errorf("%w: %s: no tensor %q", ckpt.ErrNotFound, c.Dir, name)
	}
	pt, err := ckpt.OpenTorch(filepath.Join(c.Dir, w.files[0]), false)
	if err != nil {
		return nil, err
	}
	defer pt.Close()
	sd, err := stateDict(pt, c.nested)
	if err != nil {
		return nil, err
	}
	v, _ := sd.Get(w.keys[0])
	t, ok := v.(*ckpt.TorchTensor)
	if !ok {
		return nil, fmt.Errorf("%w: %s has no tensor %q", ckpt.ErrNotFound, w.files[0], w.keys[0])
	}
	shape := slices.Clone(t.Shape)
	switch splitOf(w.key) {
	case rows:
		shape[0] *= c.TP
	case cols:
		shape[1] *= c.TP
	}
	if w.key == "word_embeddings.weight" && c.vocab > 0 && c.vocab < shape[0] {
		shape[0] = c.vocab
	}
	return shape, nil
}
