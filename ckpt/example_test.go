package ckpt_test

import (
	"fmt"
	"os"
	"path/filepath"

	"bloom/ckpt"
)

func Example() {
	dir, _ := os.MkdirTemp("", "ckpt-example")
	defer os.RemoveAll(dir)

	cfg := ckpt.DefaultBloomConfig() // hidden 64, 8 heads, 2 layers
	cfg.VocabSize = 16
	tensors := []ckpt.Tensor{
		{Name: "word_embeddings.weight", Shape: []int{16, 64}, Data: make([]float32, 16*64)},
		{Name: "ln_f.weight", Shape: []int{64}, Data: make([]float32, 64)},
	}
	if err := ckpt.SaveHF(dir, cfg, ckpt.BF16, tensors, 0); err != nil {
		fmt.Println(err)
		return
	}

	h, err := ckpt.OpenHF(dir)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer h.Close()
	w, shape, err := h.Float32("ln_f.weight")
	fmt.Println(h.Names(), len(w), shape, err)

	_, err = ckpt.OpenSafetensors(filepath.Join(dir, "missing.safetensors"))
	fmt.Println(err != nil)
	// Output:
	// [ln_f.weight word_embeddings.weight] 64 [64] <nil>
	// true
}
