package bloom

import (
	"encoding/json"
	"errors"
	"testing"
)

// TestConfigJSON: Config's JSON is the wire format of checkpoint manifests
// (their "model" record) and job specs (their "model"): config.json's names
// for the shape, AscendSpeed's flag names for the adapters, which are left
// out when there are none. Checkpoints written before Config had JSON tags
// hold exactly these bytes, so the format must not move.
func TestConfigJSON(t *testing.T) {
	lora := Config{Vocab: 264, Hidden: 32, Heads: 4, Layers: 4, Eps: 1e-5,
		LoRA: LoRA{R: 4, Alpha: 8, Targets: LoRAQKV | LoRADense | LoRAFC | LoRAProj}}
	for _, tc := range []struct {
		c    Config
		want string
	}{
		{Presets["bloom-560m"], `{"vocab_size":250880,"hidden_size":1024,"n_head":16,"n_layer":24,"layer_norm_epsilon":0.00001}`},
		{lora, `{"vocab_size":264,"hidden_size":32,"n_head":4,"n_layer":4,"layer_norm_epsilon":0.00001,"lora_r":4,"lora_alpha":8,` +
			`"lora_target_modules":["query_key_value","dense","dense_h_to_4h","dense_4h_to_h"]}`},
	} {
		b, err := json.Marshal(tc.c)
		if err != nil || string(b) != tc.want {
			t.Errorf("%+v: %s, %v\nwant %s", tc.c, b, err, tc.want)
		}
		var got Config
		if err := json.Unmarshal([]byte(tc.want), &got); err != nil || got != tc.c {
			t.Errorf("%s read back as %+v, %v", tc.want, got, err)
		}
	}
	var c Config
	if err := json.Unmarshal([]byte(`{"lora_target_modules":["lm_head"]}`), &c); !errors.Is(err, ErrConfig) {
		t.Errorf("unknown target module: %v", err)
	}
}
