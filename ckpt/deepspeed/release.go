package deepspeed

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"bloom/ckpt"
)

// The seed converter's own output (AscendSpeed's
// convert_weights_from_huggingface.py in DeepSpeed mode, bloom.md §2.1):
// release/mp_rank_{pp·TP+tp:02d}_model_states.pt, each {'checkpoint_version':
// 3.0, 'module': {'module': that rank's state dict}, 'dp_world_size': 0},
// keys under global pipeline spec indices (tied_modules.embed.word_embeddings.*
// on pipeline stage 0, {i+3}.<key> for block i, {L+4}.weight/bias for the
// final norm). No client state says TP or PP: the files of a stage hold the
// same keys, so TP is the run of files at the start whose keys are file 0's,
// and PP the file count over TP.

// IsPipeline reports whether dir (or the tag folder its "latest" names)
// holds DeepSpeed layer files or the seed converter's mp_rank files with
// the weights under module.module.
func IsPipeline(dir string) bool {
	dir = tagDir(dir)
	if m, _ := filepath.Glob(filepath.Join(dir, "layer_*-model_*-model_states.pt")); len(m) > 0 {
		return true
	}
	pt, err := ckpt.OpenTorch(filepath.Join(dir, ModelStatesName(0)), true)
	if err != nil {
		return false
	}
	defer pt.Close()
	_, ok := moduleDict(pt.Root).(*ckpt.Dict)
	return ok
}

// openRelease indexes the seed converter's mp_rank files in c.Dir.
func (c *Checkpoint) openRelease() error {
	files, err := modelStateFiles(c.Dir)
	if err != nil {
		return err
	}
	keys := make([][]string, len(files))
	for i, f := range files {
		if keys[i], err = releaseKeys(filepath.Join(c.Dir, f)); err != nil {
			return err
		}
	}
	c.nested = true
	c.TP = 1
	for c.TP < len(files) && slices.Equal(keys[c.TP], keys[0]) {
		c.TP++
	}
	if len(files)%c.TP != 0 {
		return fmt.Errorf("%w: %s: %d mp_rank files do not make stages of %d tensor-parallel ranks", ErrLayout, c.Dir, len(files), c.TP)
	}
	maxIdx := 0
	for _, ks := range keys {
		for _, k := range ks {
			idx, _, _ := specKey(k)
			maxIdx = max(maxIdx, idx)
		}
	}
	c.Layers = maxIdx - 4
	if c.Layers < 1 {
		return fmt.Errorf("%w: %s: no final norm ({L+4}.weight) in the mp_rank files", ErrLayout, c.Dir)
	}
	return c.indexRelease(files, keys)
}

// indexRelease maps each HF name to its parts: stage by stage, TP ranks of
// a stage holding the same keys; a name already seen on an earlier stage
// (a tied copy) keeps the earlier stage's.
func (c *Checkpoint) indexRelease(files []string, keys [][]string) error {
	for pp := range len(files) / c.TP {
		for tp := range c.TP {
			i := pp*c.TP + tp
			if !slices.Equal(keys[i], keys[pp*c.TP]) {
				return fmt.Errorf("%w: %s: %s and %s are one pipeline stage but hold different keys", ErrLayout, c.Dir, files[pp*c.TP], files[i])
			}
		}
		for _, k := range keys[pp*c.TP] {
			idx, key, _ := specKey(k)
			name, err := hfName(idx, key, c.Layers)
			if err != nil {
				return fmt.Errorf("%s: %w", files[pp*c.TP], err)
			}
			if _, seen := c.where[name]; seen {
				continue
			}
			loc := tensorLoc{key: key}
			for tp := range c.TP {
				loc.files, loc.keys = append(loc.files, files[pp*c.TP+tp]), append(loc.keys, k)
			}
			c.names = append(c.names, name)
			c.where[name] = loc
		}
	}
	return nil
}

// modelStateFiles lists dir's mp_rank_NN_model_states.pt, checked to run
// from 00 without a gap.
func modelStateFiles(dir string) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("deepspeed: %w", err)
	}
	n := 0
	for _, e := range ents {
		if s, ok := strings.CutPrefix(e.Name(), "mp_rank_"); ok && strings.HasSuffix(s, "_model_states.pt") {
			n++
		}
	}
	out := make([]string, n)
	for i := range out {
		out[i] = ModelStatesName(i)
		if _, err := os.Stat(filepath.Join(dir, out[i])); err != nil {
			return nil, fmt.Errorf("%w: %s has %d mp_rank files but not %s", ErrLayout, dir, n, out[i])
		}
	}
	if n == 0 {
		return nil, fmt.Errorf("%w: %s has neither layer_NN-model_NN-model_states.pt nor mp_rank_NN_model_states.pt files", ErrLayout, dir)
	}
	return out, nil
}

// releaseKeys lists the state-dict keys of one of the converter's files.
func releaseKeys(path string) ([]string, error) {
	pt, err := ckpt.OpenTorch(path, true)
	if err != nil {
		return nil, err
	}
	defer pt.Close()
	sd, err := stateDict(pt, true)
	if err != nil {
		return nil, fmt.Errorf("%w (a training save keeps its weights in layer files; this has none)", err)
	}
	var out []string
	for _, k := range sd.Keys() {
		s, _ := k.(string)
		if _, _, ok := specKey(s); !ok {
			return nil, fmt.Errorf("%w: %s: key %q has no pipeline spec index", ErrLayout, path, s)
		}
		out = append(out, s)
	}
	return out, nil
}

// specKey splits a pipeline-module parameter name into its spec index and
// the layer key: tied_modules.embed.X is the embedding's X.
func specKey(name string) (int, string, bool) {
	if key, ok := strings.CutPrefix(name, "tied_modules.embed."); ok {
		return embedIndex, key, true
	}
	num, key, ok := strings.Cut(name, ".")
	idx, err := strconv.Atoi(num)
	return idx, key, ok && err == nil && idx >= 0
}
