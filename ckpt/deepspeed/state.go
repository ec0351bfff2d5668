package deepspeed

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"

	"bloom/ckpt"
)

// ClientState is what Megatron-DeepSpeed keeps in mp_rank_00_model_states.pt
// besides the weights: where training stands and how it was set up.
type ClientState struct {
	Present           bool  // the file was there
	Iteration         int64 // Megatron's "iteration" (0 for a release)
	GlobalSteps       int64 // DeepSpeed's global_steps
	ConsumedSamples   int64 // args.consumed_train_samples, else DeepSpeed's global_samples
	CheckpointVersion float64
	// LRScheduler is Megatron's AnnealingLR state (max_lr, warmup_steps,
	// num_steps, decay_style, decay_steps, min_lr), or nil.
	LRScheduler map[string]any
	// Args is Megatron's argparse.Namespace as a map: values are nil,
	// bool, int64, float64, string, []any, map[string]any, and for what
	// has no plain form (a torch dtype) its name as a string.
	Args map[string]any
	// PaddedVocab and OriginalVocab are the embedding's rows with and
	// without padding, where the state records them (0: unknown).
	PaddedVocab, OriginalVocab int
}

// ReadClientState reads dir's mp_rank_00_model_states.pt (leniently: numpy
// RNG states and other classes stay opaque and are dropped). A missing
// file gives a ClientState with Present false.
func ReadClientState(dir string) (ClientState, error) {
	path := filepath.Join(dir, ModelStatesName(0))
	pt, err := ckpt.OpenTorch(path, true)
	if errors.Is(err, fs.ErrNotExist) {
		return ClientState{}, nil
	}
	if err != nil {
		return ClientState{}, err
	}
	defer pt.Close()
	root, ok := plain(pt.Root).(map[string]any)
	if !ok {
		return ClientState{}, fmt.Errorf("%w: %s holds a %T, not a dict", ErrLayout, path, pt.Root)
	}
	cs := ClientState{Present: true, Iteration: intOf(root["iteration"]), GlobalSteps: intOf(root["global_steps"]),
		ConsumedSamples: intOf(root["global_samples"])}
	cs.CheckpointVersion, _ = root["checkpoint_version"].(float64)
	cs.LRScheduler, _ = root["lr_scheduler"].(map[string]any)
	cs.Args, _ = root["args"].(map[string]any)
	if n := intOf(cs.Args["consumed_train_samples"]); n > 0 {
		cs.ConsumedSamples = n
	}
	cs.PaddedVocab = int(intOf(cs.Args["padded_vocab_size"]))
	if info, ok := root["universal_checkpoint_info"].(map[string]any); ok {
		cs.OriginalVocab = int(intOf(info["original_vocab_size"]))
		cs.PaddedVocab = max(cs.PaddedVocab, int(intOf(info["padded_vocab_size"])))
	}
	if l, ok := root["bloom_layout"].(map[string]any); ok {
		cs.PaddedVocab = int(intOf(l["padded_vocab_size"]))
	}
	if hf, ok := root["bloom_hf_config"].(map[string]any); ok {
		cs.OriginalVocab = int(intOf(hf["vocab_size"]))
		cs.Args = mergeMissing(cs.Args, hf)
	}
	return cs, nil
}

func mergeMissing(dst, src map[string]any) map[string]any {
	if dst == nil {
		dst = map[string]any{}
	}
	for k, v := range src {
		if _, ok := dst[k]; !ok {
			dst[k] = v
		}
	}
	return dst
}

// plain turns decoded pickle values into plain Go ones (see ClientState.Args).
func plain(v any) any {
	switch x := v.(type) {
	case *ckpt.Dict:
		m := make(map[string]any, x.Len())
		for i := range x.Len() {
			k, val := x.Item(i)
			m[fmt.Sprint(k)] = plain(val)
		}
		return m
	case []any:
		out := make([]any, len(x))
		for i := range x {
			out[i] = plain(x[i])
		}
		return out
	case ckpt.Tuple:
		return plain([]any(x))
	case ckpt.Global:
		return x.String()
	case *ckpt.Object:
		return nil
	}
	return v
}

func intOf(v any) int64 {
	switch x := v.(type) {
	case int64:
		return x
	case float64:
		return int64(x)
	}
	return 0
}

func floatOf(v any) float64 {
	switch x := v.(type) {
	case int64:
		return float64(x)
	case float64:
		return x
	}
	return 0
}

// readState reads the client state and settles the config.
func (c *Checkpoint) readState(base ckpt.BloomConfig) error {
	cs, err := ReadClientState(c.Dir)
	if err != nil {
		return err
	}
	c.State = cs
	cfg := base
	a := cs.Args
	if n := intOf(a["n_head"]); n > 0 {
		cfg.NHead = int(n)
	} else if n := intOf(a["num_attention_heads"]); n > 0 {
		cfg.NHead = int(n)
	}
	if e := floatOf(a["layer_norm_epsilon"]); e > 0 {
		cfg.LayerNormEpsilon = e
	} else if e := floatOf(a["layernorm_epsilon"]); e > 0 {
		cfg.LayerNormEpsilon = e
	}
	for key, dst := range map[string]*int{"bos_token_id": &cfg.BosTokenID, "eos_token_id": &cfg.EOSTokenID,
		"pad_token_id": &cfg.PadTokenID, "unk_token_id": &cfg.UnkTokenID} {
		if v, ok := a[key].(int64); ok {
			*dst = int(v)
		}
	}
	emb, ok := c.where["word_embeddings.weight"]
	if !ok {
		return fmt.Errorf("%w: %s: no word embeddings", ErrLayout, c.Dir)
	}
	_, shape, err := readTensorShape(filepath.Join(c.Dir, emb.files[0]), emb.keys[0], c.nested)
	if err != nil {
		return err
	}
	cfg.NLayer, cfg.HiddenSize = c.Layers, shape[1]
	padded := shape[0] * c.TP
	c.PaddedVocab = padded
	cfg.VocabSize = padded
	switch {
	case cs.OriginalVocab > 0:
		c.vocab, cfg.VocabSize = cs.OriginalVocab, cs.OriginalVocab
	case base.VocabSize > 0 && base.VocabSize <= padded:
		c.vocab, cfg.VocabSize = base.VocabSize, base.VocabSize
	}
	if cfg.NHead < 1 || cfg.HiddenSize%cfg.NHead != 0 {
		return fmt.Errorf("%w: %s: the head count is not in the checkpoint's client state; say it (--type 7B|176B, or --config a config.json)", ErrLayout, c.Dir)
	}
	c.Config = cfg
	return nil
}

// readTensorShape reads a tensor's shape without its data.
func readTensorShape(path, key string, nested bool) (*ckpt.TorchTensor, []int, error) {
	pt, err := ckpt.OpenTorch(path, false)
	if err != nil {
		return nil, nil, err
	}
	defer pt.Close()
	sd, _ := stateDict(pt, nested)
	if sd != nil {
		if v, ok := sd.Get(key); ok {
			if t, ok := v.(*ckpt.TorchTensor); ok && len(t.Shape) == 2 {
				return t, t.Shape, nil
			}
		}
	}
	return nil, nil, fmt.Errorf("%w: %s has no 2-D tensor %q", ckpt.ErrNotFound, path, key)
}
