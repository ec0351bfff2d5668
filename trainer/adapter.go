package trainer

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"bloom/ckpt"
	"bloom/npu"
	"bloom/trainer/bloom"
)

// peftConfig is the adapter_config.json peft writes for a LoRA adapter.
type peftConfig struct {
	BaseModel      string   `json:"base_model_name_or_path"`
	Bias           string   `json:"bias"`
	FanInFanOut    bool     `json:"fan_in_fan_out"`
	InferenceMode  bool     `json:"inference_mode"`
	InitLoRA       bool     `json:"init_lora_weights"`
	LoRAAlpha      float32  `json:"lora_alpha"`
	LoRADropout    float64  `json:"lora_dropout"`
	ModulesToSave  []string `json:"modules_to_save"`
	PeftType       string   `json:"peft_type"`
	R              int      `json:"r"`
	TargetModules  []string `json:"target_modules"`
	TaskType       string   `json:"task_type"`
	RevisionSource *string  `json:"revision"`
}

// peftPrefix is where peft puts a BloomForCausalLM's modules.
const peftPrefix = "base_model.model.transformer."

// SaveAdapter writes the LoRA adapters of the whole model m as a peft
// adapter directory (adapter_config.json, adapter_model.safetensors in F32),
// to apply with peft's PeftModel.from_pretrained over base (recorded as
// base_model_name_or_path).
func SaveAdapter(m *bloom.Model, dir, base string) error {
	if !m.Cfg.LoRA.On() {
		return fmt.Errorf("%w: the model has no LoRA adapters to export", ErrMismatch)
	}
	host := make([]float32, m.Layout.Size)
	m.Dev.Read(host, m.Params)
	var ts []ckpt.Tensor
	for _, t := range m.Layout.Tensors {
		if t.Adapter {
			ts = append(ts, ckpt.Tensor{Name: peftPrefix + t.Name, Shape: t.Global, Data: host[t.Offset : t.Offset+t.Size]})
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("trainer: %w", err)
	}
	if err := ckpt.WriteSafetensors(filepath.Join(dir, "adapter_model.safetensors"), ckpt.F32, ts, nil, map[string]string{"format": "pt"}); err != nil {
		return err
	}
	c := peftConfig{BaseModel: base, Bias: "none", InferenceMode: true, InitLoRA: true, LoRAAlpha: m.Cfg.LoRA.Alpha,
		PeftType: "LORA", R: m.Cfg.LoRA.R, TargetModules: m.Cfg.LoRA.Targets.Names(), TaskType: "CAUSAL_LM"}
	b, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "adapter_config.json"), append(b, '\n'), 0o644)
}

// ExportAdapter writes the adapters of the LoRA checkpoint in dir (a step
// directory, or a root: its latest committed step) as a peft adapter
// directory out, naming the checkpoint's base.
func ExportAdapter(d npu.Device, dir, out string) error {
	step, err := stepDir(dir)
	if err != nil {
		return err
	}
	m, tr, err := loadNative(d, step, nil)
	if err != nil {
		return err
	}
	return SaveAdapter(m, out, tr.LoRABase)
}
