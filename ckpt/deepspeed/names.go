package deepspeed

import (
	"fmt"
	"strconv"
	"strings"
)

// Where a Hugging Face BLOOM tensor lives in a pipeline checkpoint: the
// layer file (the pipeline spec index: 1 for the embedding, i+3 for block
// i, L+4 for the final norm) and the key in that layer's state dict, and
// how tensor parallelism cuts it (the seed's converter, bloom.md §2.1).

const (
	embedIndex = 1
	firstBlock = 3
)

// finalNormIndex is the spec index of the final LayerNorm of an L-block model.
func finalNormIndex(layers int) int { return layers + 4 }

// split says how a tensor is cut across tensor-parallel ranks.
type split int

const (
	replicated split = iota // every rank has it whole (LayerNorms, row-parallel biases)
	rows                    // cut along dim 0 (column-parallel weights and biases, the embedding)
	cols                    // cut along dim 1 (row-parallel weights)
)

// splitOf is how the tensor with layer-file key key is cut.
func splitOf(key string) split {
	switch {
	case key == "word_embeddings.weight",
		strings.HasSuffix(key, "self_attention.query_key_value.weight"),
		strings.HasSuffix(key, "self_attention.query_key_value.bias"),
		strings.HasSuffix(key, "mlp.dense_h_to_4h.weight"),
		strings.HasSuffix(key, "mlp.dense_h_to_4h.bias"):
		return rows
	case strings.HasSuffix(key, "self_attention.dense.weight"),
		strings.HasSuffix(key, "mlp.dense_4h_to_h.weight"):
		return cols
	}
	return replicated
}

// layerKey maps an HF name (without "transformer.") of an L-block model to
// its layer file index and key.
func layerKey(name string, layers int) (int, string, error) {
	switch name {
	case "word_embeddings.weight":
		return embedIndex, name, nil
	case "word_embeddings_layernorm.weight", "word_embeddings_layernorm.bias":
		return embedIndex, "word_embeddings.norm." + strings.TrimPrefix(name, "word_embeddings_layernorm."), nil
	case "ln_f.weight", "ln_f.bias":
		return finalNormIndex(layers), strings.TrimPrefix(name, "ln_f."), nil
	}
	if rest, ok := strings.CutPrefix(name, "h."); ok {
		num, key, ok := strings.Cut(rest, ".")
		i, err := strconv.Atoi(num)
		if ok && err == nil && i >= 0 && i < layers {
			return i + firstBlock, key, nil
		}
	}
	return 0, "", fmt.Errorf("%w: tensor %q is not part of a %d-layer BLOOM", ErrLayout, name, layers)
}

// hfName maps a layer file index and key back to the HF name.
func hfName(idx int, key string, layers int) (string, error) {
	switch {
	case idx == embedIndex && key == "word_embeddings.weight":
		return key, nil
	case idx == embedIndex && strings.HasPrefix(key, "word_embeddings.norm."):
		return "word_embeddings_layernorm." + strings.TrimPrefix(key, "word_embeddings.norm."), nil
	case idx == finalNormIndex(layers) && (key == "weight" || key == "bias"):
		return "ln_f." + key, nil
	case idx == finalNormIndex(layers) && (key == "final_layernorm.weight" || key == "final_layernorm.bias"):
		return "ln_f." + strings.TrimPrefix(key, "final_layernorm."), nil // the converter's older name
	case idx >= firstBlock && idx < firstBlock+layers:
		return fmt.Sprintf("h.%d.%s", idx-firstBlock, key), nil
	}
	return "", fmt.Errorf("%w: layer %d key %q is not part of a %d-layer BLOOM pipeline", ErrLayout, idx, key, layers)
}

// LayerFileName is DeepSpeed's name of the state of pipeline spec index idx
// on tensor-parallel rank tp.
func LayerFileName(idx, tp int) string {
	return fmt.Sprintf("layer_%02d-model_%02d-model_states.pt", idx, tp)
}

// ModelStatesName is the name of model-parallel rank mp's client state.
func ModelStatesName(mp int) string { return fmt.Sprintf("mp_rank_%02d_model_states.pt", mp) }

// parseLayerFile parses a LayerFileName.
func parseLayerFile(name string) (idx, tp int, ok bool) {
	var rest string
	if !strings.HasPrefix(name, "layer_") || !strings.HasSuffix(name, "-model_states.pt") {
		return 0, 0, false
	}
	rest = strings.TrimSuffix(strings.TrimPrefix(name, "layer_"), "-model_states.pt")
	a, b, found := strings.Cut(rest, "-model_")
	if !found {
		return 0, 0, false
	}
	idx, err1 := strconv.Atoi(a)
	tp, err2 := strconv.Atoi(b)
	return idx, tp, err1 == nil && err2 == nil && idx >= 0 && tp >= 0
}
