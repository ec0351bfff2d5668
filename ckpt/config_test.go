package ckpt

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// bloom560m is bigscience/bloom-560m's config.json (fields as quoted in
// reference/bloom.md §4, plus the usual architectures/model_type).
const bloom560m = `{
  "apply_residual_connection_post_layernorm": false,
  "architectures": ["BloomForCausalLM"],
  "attention_dropout": 0.0,
  "attention_softmax_in_fp32": true,
  "bias_dropout_fusion": true,
  "bos_token_id": 1,
  "eos_token_id": 2,
  "hidden_dropout": 0.0,
  "hidden_size": 1024,
  "initializer_range": 0.02,
  "layer_norm_epsilon": 1e-05,
  "masked_softmax_fusion": true,
  "model_type": "bloom",
  "n_head": 16,
  "n_inner": null,
  "n_layer": 24,
  "offset_alibi": 100,
  "pad_token_id": 3,
  "pretraining_tp": 1,
  "skip_bias_add": true,
  "skip_bias_add_qkv": false,
  "slow_but_exact": false,
  "unk_token_id": 0,
  "use_cache": true,
  "vocab_size": 250880
}`

func writeConfig(t *testing.T, js string) string {
	t.Helper()
	return writeTemp(t, "config.json", []byte(js))
}

func TestReadBloom560m(t *testing.T) {
	c, err := ReadBloomConfig(writeConfig(t, bloom560m))
	if err != nil {
		t.Fatal(err)
	}
	want := BloomConfig{VocabSize: 250880, HiddenSize: 1024, NLayer: 24, NHead: 16, LayerNormEpsilon: 1e-5,
		BosTokenID: 1, EOSTokenID: 2, PadTokenID: 3, UnkTokenID: 0, InitializerRange: 0.02}
	if !configEq(c, want) {
		t.Fatalf("got %+v\nwant %+v", c, want)
	}
	if c.HeadDim() != 64 {
		t.Errorf("HeadDim = %d", c.HeadDim())
	}
}

func configEq(a, b BloomConfig) bool {
	a.Raw, b.Raw = nil, nil
	return a.VocabSize == b.VocabSize && a.HiddenSize == b.HiddenSize && a.NLayer == b.NLayer && a.NHead == b.NHead &&
		a.LayerNormEpsilon == b.LayerNormEpsilon && a.BosTokenID == b.BosTokenID && a.EOSTokenID == b.EOSTokenID &&
		a.PadTokenID == b.PadTokenID && a.UnkTokenID == b.UnkTokenID &&
		a.ApplyResidualConnectionPostLayernorm == b.ApplyResidualConnectionPostLayernorm &&
		a.InitializerRange == b.InitializerRange
}

func TestConfigAliasesAndDefaults(t *testing.T) {
	c, err := ReadBloomConfig(writeConfig(t, `{"n_embed": 128, "num_hidden_layers": 3, "num_attention_heads": 4,
		"apply_residual_connection_post_layernorm": false, "pad_token_id": null}`))
	if err != nil {
		t.Fatal(err)
	}
	want := DefaultBloomConfig()
	want.HiddenSize, want.NLayer, want.NHead = 128, 3, 4
	if !configEq(c, want) {
		t.Fatalf("got %+v\nwant %+v", c, want)
	}
	// Both spellings present and agreeing is fine; 64.0 is an integer.
	c, err = ReadBloomConfig(writeConfig(t, `{"hidden_size": 64.0, "n_embed": 64, "n_head": 8, "num_attention_heads": 8}`))
	if err != nil || c.HiddenSize != 64 {
		t.Fatalf("agreeing aliases: %+v %v", c, err)
	}
	if def := DefaultBloomConfig(); def.Validate() != nil || def.VocabSize != 250880 || def.LayerNormEpsilon != 1e-5 {
		t.Fatalf("defaults %+v", def)
	}
}

func TestConfigErrors(t *testing.T) {
	cases := []struct {
		name, js, sub string
	}{
		{"not JSON", `{`, "not a JSON object"},
		{"array", `[]`, "not a JSON object"},
		{"null", `null`, "not a JSON object"},
		{"trailing", `{} {}`, "trailing"},
		{"model type", `{"model_type": "gpt2"}`, `model_type is "gpt2"`},
		{"zero hidden", `{"hidden_size": 0}`, "hidden_size is 0"},
		{"negative layers", `{"n_layer": -1}`, "n_layer is -1"},
		{"zero heads", `{"num_attention_heads": 0}`, "n_head is 0"},
		{"zero vocab", `{"vocab_size": 0}`, "vocab_size is 0"},
		{"heads do not divide", `{"hidden_size": 100, "n_head": 8}`, "not a multiple"},
		{"alias conflict", `{"hidden_size": 64, "n_embed": 128}`, "alias"},
		{"string size", `{"hidden_size": "64"}`, `hidden_size is "64"`},
		{"fraction", `{"n_layer": 2.5}`, "want an integer"},
		{"huge", `{"n_layer": 1e30}`, "n_layer"},
		{"eps string", `{"layer_norm_epsilon": "small"}`, "layer_norm_epsilon"},
		{"eps zero", `{"layer_norm_epsilon": 0}`, "layer_norm_epsilon"},
		{"bool type", `{"apply_residual_connection_post_layernorm": 1}`, "true or false"},
		// Another model than BLOOM's blocks: refused, not computed as BLOOM's.
		{"residual after the norm", `{"apply_residual_connection_post_layernorm": true}`, "apply_residual_connection_post_layernorm is true"},
		{"token outside vocab", `{"vocab_size": 100, "eos_token_id": 100}`, "eos_token_id 100"},
		{"eos list", `{"eos_token_id": [2, 3]}`, "eos_token_id"},
	}
	for _, c := range cases {
		path := writeConfig(t, c.js)
		_, err := ReadBloomConfig(path)
		if err == nil {
			t.Errorf("%s: no error", c.name)
			continue
		}
		wantErr(t, err, ErrConfig, path, c.sub)
		if strings.Count(err.Error(), "ckpt:") != 1 {
			t.Errorf("%s: error %q repeats the prefix", c.name, err)
		}
	}
	_, err := ReadBloomConfig(filepath.Join(t.TempDir(), "config.json"))
	wantErr(t, err, ErrNotFound, "config.json")
}

func TestConfigWriteRoundTrip(t *testing.T) {
	c, err := ReadBloomConfig(writeConfig(t, bloom560m))
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "config.json")
	if err := c.WriteFile(out); err != nil {
		t.Fatal(err)
	}
	js, _ := os.ReadFile(out)
	for _, s := range []string{`"layer_norm_epsilon": 1e-05`, `"offset_alibi": 100`, `"n_inner": null`, `"model_type": "bloom"`} {
		if !strings.Contains(string(js), s) {
			t.Errorf("written config lacks %s:\n%s", s, js)
		}
	}
	var a, b map[string]any
	json.Unmarshal([]byte(bloom560m), &a)
	json.Unmarshal(js, &b)
	if len(a) != len(b) {
		t.Errorf("written config has %d keys, read had %d", len(b), len(a))
	}
	for k, v := range a {
		if jsonText(b[k]) != jsonText(v) {
			t.Errorf("%s: wrote %s, read %s", k, jsonText(b[k]), jsonText(v))
		}
	}

	// Changed typed fields win over Raw; aliases are replaced by canonical keys.
	c2, err := ReadBloomConfig(writeConfig(t, `{"n_embed": 64, "num_hidden_layers": 2, "n_head": 8, "extra": [1, "x"]}`))
	if err != nil {
		t.Fatal(err)
	}
	c2.NLayer, c2.LayerNormEpsilon = 5, 1e-6
	if err := c2.WriteFile(out); err != nil {
		t.Fatal(err)
	}
	c3, err := ReadBloomConfig(out)
	if err != nil {
		t.Fatal(err)
	}
	if !configEq(c2, c3) || jsonText(c3.Raw["extra"]) != `[1,"x"]` || c3.Raw["n_embed"] != nil {
		t.Fatalf("round trip: %+v vs %+v", c2, c3)
	}
	if jsonText(c3.Raw["architectures"]) != `["BloomForCausalLM"]` {
		t.Errorf("architectures = %v", c3.Raw["architectures"])
	}
	// A config built in code writes too; an invalid one does not.
	if err := DefaultBloomConfig().WriteFile(out); err != nil {
		t.Fatal(err)
	}
	bad := DefaultBloomConfig()
	bad.NHead = 7
	wantErr(t, bad.WriteFile(out), ErrConfig, out, "not a multiple")
}
