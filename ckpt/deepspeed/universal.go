package deepspeed

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"bloom/ckpt"
)

// A DeepSpeed universal checkpoint (ds_to_universal): dir/zero/<param>/
// {fp32,exp_avg,exp_avg_sq}.pt, each {'param': the whole tensor[,
// 'cat_dim'][, 'vocab_tensor': True]}, parameters named by pipeline spec
// index (tied_modules.embed.word_embeddings.weight, 3.input_layernorm.weight,
// L+4.weight), plus the mp_rank_*_model_states.pt client state. The
// embedding is stored without its padding rows.

// UniversalParam is one parameter's master weights and Adam moments.
type UniversalParam struct {
	Shape               []int
	FP32, ExpAvg, ExpSq []float32 // ExpAvg, ExpSq nil when absent
}

// Universal is an open universal checkpoint.
type Universal struct {
	Dir    string
	Layers int
	State  ClientState
	names  map[string]string // HF name → folder under zero/
}

// OpenUniversal opens the universal checkpoint in dir (or the tag folder
// its "latest_universal", as ds_to_universal writes it, or "latest" names).
func OpenUniversal(dir string) (*Universal, error) {
	dir = universalDir(dir)
	ents, err := os.ReadDir(filepath.Join(dir, "zero"))
	if err != nil {
		return nil, fmt.Errorf("%w: %s is not a universal checkpoint: %v", ErrLayout, dir, err)
	}
	u := &Universal{Dir: dir, names: map[string]string{}}
	if u.State, err = ReadClientState(dir); err != nil {
		return nil, err
	}
	maxIdx := 0
	for _, e := range ents {
		var idx int
		if _, err := fmt.Sscanf(e.Name(), "%d.", &idx); err == nil {
			maxIdx = max(maxIdx, idx)
		}
	}
	u.Layers = maxIdx - 4
	for _, e := range ents {
		if !e.IsDir() {
			continue
		}
		name, err := universalHFName(e.Name(), u.Layers)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", dir, err)
		}
		u.names[name] = e.Name()
	}
	return u, nil
}

// universalDir resolves a save directory to the tag folder that its
// latest_universal (else latest) names.
func universalDir(dir string) string {
	if b, err := os.ReadFile(filepath.Join(dir, "latest_universal")); err == nil {
		if tag := strings.TrimSpace(string(b)); tag != "" {
			return filepath.Join(dir, tag)
		}
	}
	return tagDir(dir)
}

// IsUniversal reports whether dir (or the tag folder its latest_universal
// or latest names) holds a universal checkpoint's zero/ folder.
func IsUniversal(dir string) bool {
	st, err := os.Stat(filepath.Join(universalDir(dir), "zero"))
	return err == nil && st.IsDir()
}

// Step is Adam's step count as the checkpoint records it (zero/<param>/
// step.pt of the first parameter), or ok false when it has none.
func (u *Universal) Step() (step int64, ok bool, err error) {
	names := u.Names()
	if len(names) == 0 {
		return 0, false, nil
	}
	path := filepath.Join(u.Dir, "zero", u.names[names[0]], "step.pt")
	if _, err := os.Stat(path); err != nil {
		return 0, false, nil
	}
	pt, err := ckpt.OpenTorch(path, true)
	if err != nil {
		return 0, false, err
	}
	defer pt.Close()
	switch v := pt.Root.(type) {
	case *ckpt.TorchTensor:
		data, err := v.Float32()
		if err != nil || len(data) != 1 {
			return 0, false, fmt.Errorf("%w: %s is not one number (%v)", ErrLayout, path, err)
		}
		return int64(data[0]), true, nil
	case int64:
		return v, true, nil
	case float64:
		return int64(v), true, nil
	}
	return 0, false, fmt.Errorf("%w: %s holds a %T, not a step count", ErrLayout, path, pt.Root)
}

func universalHFName(param string, layers int) (string, error) {
	if key, ok := cutPrefix(param, "tied_modules.embed."); ok {
		return hfName(embedIndex, key, layers)
	}
	var idx int
	var key string
	if n, _ := fmt.Sscanf(param, "%d.", &idx); n == 1 {
		key = param[len(fmt.Sprint(idx))+1:]
		return hfName(idx, key, layers)
	}
	return "", fmt.Errorf("%w: universal parameter %q is not part of a BLOOM pipeline", ErrLayout, param)
}

func cutPrefix(s, p string) (string, bool) {
	if len(s) >= len(p) && s[:len(p)] == p {
		return s[len(p):], true
	}
	return s, false
}

// Names lists the parameters under HF names, sorted.
func (u *Universal) Names() []string {
	out := make([]string, 0, len(u.names))
	for n := range u.names {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

// Param reads one parameter (HF name). The embedding's rows are padded
// with zeros to padded rows (0: as stored), as training at that padded
// vocabulary needs: DeepSpeed stores it cut to the tokenizer's size.
func (u *Universal) Param(name string, padded int) (UniversalParam, error) {
	folder, ok := u.names[name]
	if !ok {
		return UniversalParam{}, fmt.Errorf("%w: %s: no parameter %q", ckpt.ErrNotFound, u.Dir, name)
	}
	var p UniversalParam
	for _, s := range []struct {
		file     string
		dst      *[]float32
		required bool
	}{{"fp32.pt", &p.FP32, true}, {"exp_avg.pt", &p.ExpAvg, false}, {"exp_avg_sq.pt", &p.ExpSq, false}} {
		path := filepath.Join(u.Dir, "zero", folder, s.file)
		if _, err := os.Stat(path); err != nil && !s.required {
			continue
		}
		data, shape, err := universalTensor(path)
		if err != nil {
			return p, err
		}
		if name == "word_embeddings.weight" && padded > shape[0] {
			data = append(data, make([]float32, (padded-shape[0])*shape[1])...)
			shape = []int{padded, shape[1]}
		}
		*s.dst, p.Shape = data, shape
	}
	return p, nil
}

func universalTensor(path string) ([]float32, []int, error) {
	pt, err := ckpt.OpenTorch(path, false)
	if err != nil {
		return nil, nil, err
	}
	defer pt.Close()
	d, ok := pt.Root.(*ckpt.Dict)
	if !ok {
		return nil, nil, fmt.Errorf("%w: %s holds a %T, not {'param': tensor}", ErrLayout, path, pt.Root)
	}
	v, _ := d.Get("param")
	t, ok := v.(*ckpt.TorchTensor)
	if !ok {
		return nil, nil, fmt.Errorf("%w: %s has no 'param' tensor", ErrLayout, path)
	}
	data, err := t.Float32()
	return data, slices.Clone(t.Shape), err
}
