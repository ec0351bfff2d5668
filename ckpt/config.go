package ckpt

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"math"
	"os"
)

// BloomConfig is the part of a Hugging Face BLOOM config.json this project
// uses. Raw keeps every field as read (numbers as json.Number, so they are
// written back with the same text) so WriteFile loses nothing it does not know.
// It is the file on disk; the model's shape in memory is trainer/bloom's
// Config (ckpt imports nothing of the project, so the trainer converts).
type BloomConfig struct {
	VocabSize        int     // vocab_size
	HiddenSize       int     // hidden_size, alias n_embed
	NLayer           int     // n_layer, alias num_hidden_layers
	NHead            int     // n_head, alias num_attention_heads
	LayerNormEpsilon float64 // layer_norm_epsilon

	BosTokenID int // bos_token_id
	EOSTokenID int // eos_token_id
	PadTokenID int // pad_token_id
	UnkTokenID int // unk_token_id

	ApplyResidualConnectionPostLayernorm bool    // apply_residual_connection_post_layernorm
	InitializerRange                     float64 // initializer_range

	Raw map[string]any // every field as read; nil for a config built in code
}

// DefaultBloomConfig returns the defaults of transformers' BloomConfig, with
// the pad and unk ids of the BLOOM tokenizer (BloomConfig leaves them unset).
func DefaultBloomConfig() BloomConfig {
	return BloomConfig{
		VocabSize:        250880,
		HiddenSize:       64,
		NLayer:           2,
		NHead:            8,
		LayerNormEpsilon: 1e-5,
		BosTokenID:       1,
		EOSTokenID:       2,
		PadTokenID:       3,
		UnkTokenID:       0,
		InitializerRange: 0.02,
	}
}

// Validate checks that the sizes are positive, the hidden size splits evenly
// over the heads, epsilon is positive and the special token ids are inside the
// vocabulary. Its errors wrap ErrConfig.
func (c BloomConfig) Validate() error {
	for _, f := range []struct {
		name string
		v    int
	}{{"vocab_size", c.VocabSize}, {"hidden_size", c.HiddenSize}, {"n_layer", c.NLayer}, {"n_head", c.NHead}} {
		if f.v <= 0 {
			return fmt.Errorf("%w: %s is %d, must be positive", ErrConfig, f.name, f.v)
		}
	}
	if c.HiddenSize%c.NHead != 0 {
		return fmt.Errorf("%w: hidden_size %d is not a multiple of n_head %d", ErrConfig, c.HiddenSize, c.NHead)
	}
	if c.ApplyResidualConnectionPostLayernorm {
		// Every released BLOOM says false; the other order would be a
		// different model, which bloom does not compute (it had read the
		// flag and computed the usual one).
		return fmt.Errorf("%w: apply_residual_connection_post_layernorm is true: bloom computes BLOOM's blocks, whose residual is the layer norm's input (false)", ErrConfig)
	}
	if !(c.LayerNormEpsilon > 0) || math.IsInf(c.LayerNormEpsilon, 0) {
		return fmt.Errorf("%w: layer_norm_epsilon %v must be positive and finite", ErrConfig, c.LayerNormEpsilon)
	}
	if !(c.InitializerRange >= 0) || math.IsInf(c.InitializerRange, 0) {
		return fmt.Errorf("%w: initializer_range %v must be non-negative and finite", ErrConfig, c.InitializerRange)
	}
	for _, f := range []struct {
		name string
		v    int
	}{{"bos_token_id", c.BosTokenID}, {"eos_token_id", c.EOSTokenID}, {"pad_token_id", c.PadTokenID}, {"unk_token_id", c.UnkTokenID}} {
		if f.v < 0 || f.v >= c.VocabSize {
			return fmt.Errorf("%w: %s %d is outside the vocabulary [0, %d)", ErrConfig, f.name, f.v, c.VocabSize)
		}
	}
	return nil
}

// HeadDim is HiddenSize / NHead.
func (c BloomConfig) HeadDim() int { return c.HiddenSize / c.NHead }

// ReadBloomConfig reads and validates a BLOOM config.json. It accepts the
// aliases HF accepts (n_embed, num_hidden_layers, num_attention_heads), fills
// absent fields from DefaultBloomConfig and rejects a model_type other than
// "bloom". Errors name the file and wrap ErrConfig (or ErrNotFound).
func ReadBloomConfig(path string) (BloomConfig, error) {
	js, err := os.ReadFile(path)
	if err != nil {
		return BloomConfig{}, ioErr(path, err, "read config")
	}
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.UseNumber()
	var raw map[string]any
	if err := dec.Decode(&raw); err != nil || raw == nil {
		return BloomConfig{}, wrapf(path, ErrConfig, err, "not a JSON object")
	}
	if _, err := dec.Token(); err != io.EOF {
		return BloomConfig{}, errf(path, ErrConfig, "trailing data after the JSON object")
	}
	c, err := configFromRaw(raw)
	if err != nil {
		return BloomConfig{}, errf(path, ErrConfig, "%s", stripKind(err))
	}
	if err := c.Validate(); err != nil {
		return BloomConfig{}, errf(path, ErrConfig, "%s", stripKind(err))
	}
	return c, nil
}

// stripKind drops the "ckpt: invalid config: " prefix a Validate error carries,
// since the file error says it again.
func stripKind(err error) string {
	s := err.Error()
	p := ErrConfig.Error() + ": "
	if len(s) > len(p) && s[:len(p)] == p {
		return s[len(p):]
	}
	return s
}

// configFromRaw fills a BloomConfig from the decoded JSON.
func configFromRaw(raw map[string]any) (BloomConfig, error) {
	if mt, ok := raw["model_type"]; ok && mt != "bloom" {
		return BloomConfig{}, fmt.Errorf("%w: model_type is %v, want \"bloom\"", ErrConfig, jsonText(mt))
	}
	c := DefaultBloomConfig()
	c.Raw = raw
	ints := []struct {
		dst  *int
		keys []string
	}{
		{&c.VocabSize, []string{"vocab_size"}},
		{&c.HiddenSize, []string{"hidden_size", "n_embed"}},
		{&c.NLayer, []string{"n_layer", "num_hidden_layers"}},
		{&c.NHead, []string{"n_head", "num_attention_heads"}},
		{&c.BosTokenID, []string{"bos_token_id"}},
		{&c.EOSTokenID, []string{"eos_token_id"}},
		{&c.PadTokenID, []string{"pad_token_id"}},
		{&c.UnkTokenID, []string{"unk_token_id"}},
	}
	for _, f := range ints {
		if err := intField(raw, f.dst, f.keys...); err != nil {
			return BloomConfig{}, err
		}
	}
	if err := floatField(raw, &c.LayerNormEpsilon, "layer_norm_epsilon"); err != nil {
		return BloomConfig{}, err
	}
	if err := floatField(raw, &c.InitializerRange, "initializer_range"); err != nil {
		return BloomConfig{}, err
	}
	const post = "apply_residual_connection_post_layernorm"
	switch v := raw[post].(type) {
	case nil:
	case bool:
		c.ApplyResidualConnectionPostLayernorm = v
	default:
		return BloomConfig{}, fmt.Errorf("%w: %s is %s, want true or false", ErrConfig, post, jsonText(v))
	}
	return c, nil
}

// intField sets *dst from the first present, non-null key; aliases that are
// both present must agree.
func intField(raw map[string]any, dst *int, keys ...string) error {
	found := ""
	for _, k := range keys {
		v, ok := raw[k]
		if !ok || v == nil {
			continue
		}
		n, ok := v.(json.Number)
		i, err := n.Int64()
		if !ok || err != nil {
			f, ferr := n.Float64() // accept 1024.0
			if !ok || ferr != nil || f != math.Trunc(f) || math.Abs(f) > 1<<53 {
				return fmt.Errorf("%w: %s is %s, want an integer", ErrConfig, k, jsonText(v))
			}
			i = int64(f)
		}
		if i < math.MinInt32 || i > math.MaxInt32 {
			return fmt.Errorf("%w: %s %d is out of range", ErrConfig, k, i)
		}
		if found != "" && int(i) != *dst {
			return fmt.Errorf("%w: %s is %d but its alias %s is %d", ErrConfig, k, i, found, *dst)
		}
		if found == "" {
			*dst, found = int(i), k
		}
	}
	return nil
}

// floatField sets *dst from key when it is present and not null.
func floatField(raw map[string]any, dst *float64, key string) error {
	v, ok := raw[key]
	if !ok || v == nil {
		return nil
	}
	n, ok := v.(json.Number)
	f, err := n.Float64()
	if !ok || err != nil {
		return fmt.Errorf("%w: %s is %s, want a number", ErrConfig, key, jsonText(v))
	}
	*dst = f
	return nil
}

// jsonText shows a decoded JSON value the way it was written.
func jsonText(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

// aliasKeys are the alternative spellings ReadBloomConfig accepts; WriteFile
// drops them so the canonical keys it writes cannot disagree with them.
var aliasKeys = []string{"n_embed", "num_hidden_layers", "num_attention_heads"}

// WriteFile writes c as a config.json (atomically, see WriteAtomic): every
// Raw field, then the typed fields under their canonical names, model_type
// "bloom" and architectures ["BloomForCausalLM"]. A typed field equal to its
// Raw value keeps Raw's spelling (1e-05 stays 1e-05).
func (c BloomConfig) WriteFile(path string) error {
	if err := c.Validate(); err != nil {
		return errf(path, ErrConfig, "%s", stripKind(err))
	}
	out := maps.Clone(c.Raw)
	if out == nil {
		out = map[string]any{}
	}
	for _, k := range aliasKeys {
		delete(out, k)
	}
	setNum := func(key string, v float64) {
		if n, ok := c.Raw[key].(json.Number); ok {
			if f, err := n.Float64(); err == nil && f == v {
				return // keep the text as read
			}
		}
		out[key] = v
	}
	setNum("vocab_size", float64(c.VocabSize))
	setNum("hidden_size", float64(c.HiddenSize))
	setNum("n_layer", float64(c.NLayer))
	setNum("n_head", float64(c.NHead))
	setNum("layer_norm_epsilon", c.LayerNormEpsilon)
	setNum("bos_token_id", float64(c.BosTokenID))
	setNum("eos_token_id", float64(c.EOSTokenID))
	setNum("pad_token_id", float64(c.PadTokenID))
	setNum("unk_token_id", float64(c.UnkTokenID))
	setNum("initializer_range", c.InitializerRange)
	out["apply_residual_connection_post_layernorm"] = c.ApplyResidualConnectionPostLayernorm
	out["model_type"] = "bloom"
	out["architectures"] = []string{"BloomForCausalLM"}
	js, err := json.MarshalIndent(out, "", "  ")
	if err != nil {
		return wrapf(path, ErrConfig, err, "encode config")
	}
	js = append(js, '\n')
	return WriteAtomic(path, func(w io.Writer) error {
		_, err := w.Write(js)
		return err
	})
}
