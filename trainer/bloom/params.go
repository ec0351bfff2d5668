package bloom

import (
	"fmt"
	"strings"

	"bloom/npu"
)

// Tensor is one named parameter inside the flat buffer.
type Tensor struct {
	Name   string // Hugging Face name without the "transformer." prefix
	Shape  []int  // Linear weights are (out, in), as PyTorch stores them
	Offset int    // first element in the flat buffer
	Size   int    // elements
	Decay  bool   // AdamW weight decay applies (not to biases and layer norms)
}

// Layout places every parameter of a Config in one flat buffer, in Hugging
// Face order: embeddings, then block by block, then the final norm.
type Layout struct {
	Tensors []Tensor
	Size    int // elements in the flat buffer
	index   map[string]int
}

// NewLayout lays out the parameters of c.
func NewLayout(c Config) *Layout {
	l := &Layout{index: map[string]int{}}
	C := c.Hidden
	l.add("word_embeddings.weight", true, c.Vocab, C)
	l.add("word_embeddings_layernorm.weight", false, C)
	l.add("word_embeddings_layernorm.bias", false, C)
	for i := 0; i < c.Layers; i++ {
		p := fmt.Sprintf("h.%d.", i)
		l.add(p+"input_layernorm.weight", false, C)
		l.add(p+"input_layernorm.bias", false, C)
		l.add(p+"self_attention.query_key_value.weight", true, 3*C, C)
		l.add(p+"self_attention.query_key_value.bias", false, 3*C)
		l.add(p+"self_attention.dense.weight", true, C, C)
		l.add(p+"self_attention.dense.bias", false, C)
		l.add(p+"post_attention_layernorm.weight", false, C)
		l.add(p+"post_attention_layernorm.bias", false, C)
		l.add(p+"mlp.dense_h_to_4h.weight", true, 4*C, C)
		l.add(p+"mlp.dense_h_to_4h.bias", false, 4*C)
		l.add(p+"mlp.dense_4h_to_h.weight", true, C, 4*C)
		l.add(p+"mlp.dense_4h_to_h.bias", false, C)
	}
	l.add("ln_f.weight", false, C)
	l.add("ln_f.bias", false, C)
	return l
}

func (l *Layout) add(name string, decay bool, shape ...int) {
	n := 1
	for _, d := range shape {
		n *= d
	}
	l.index[name] = len(l.Tensors)
	l.Tensors = append(l.Tensors, Tensor{Name: name, Shape: shape, Offset: l.Size, Size: n, Decay: decay})
	l.Size += n
}

// Lookup finds a tensor by its Hugging Face name; a "transformer." prefix is
// accepted.
func (l *Layout) Lookup(name string) (Tensor, bool) {
	i, ok := l.index[strings.TrimPrefix(name, "transformer.")]
	if !ok {
		return Tensor{}, false
	}
	return l.Tensors[i], true
}

// Block holds the views of one transformer block's parameters.
type Block struct {
	LN1W, LN1B npu.Buf // (C)
	QKVW       npu.Buf // (3C, C) rows laid out [NH, 3, HD]
	QKVB       npu.Buf // (3C)
	AttnW      npu.Buf // (C, C)
	AttnB      npu.Buf // (C)
	LN2W, LN2B npu.Buf // (C)
	FCW        npu.Buf // (4C, C)
	FCB        npu.Buf // (4C)
	ProjW      npu.Buf // (C, 4C)
	ProjB      npu.Buf // (C)
}

// Weights are named views into a flat buffer laid out by Layout. The same
// type serves the parameters and their gradients.
type Weights struct {
	WTE            npu.Buf // (V, C) word embeddings, tied lm_head
	EmbLNW, EmbLNB npu.Buf // (C)
	Blocks         []Block
	LNFW, LNFB     npu.Buf // (C)
}

// Views cuts buf (Layout.Size elements) into named views. The views share
// buf's memory.
func (l *Layout) Views(buf npu.Buf, layers int) Weights {
	v := func(i int) npu.Buf { t := l.Tensors[i]; return buf.Slice(t.Offset, t.Size) }
	w := Weights{WTE: v(0), EmbLNW: v(1), EmbLNB: v(2)}
	for i := 0; i < layers; i++ {
		o := 3 + 12*i
		w.Blocks = append(w.Blocks, Block{
			LN1W: v(o), LN1B: v(o + 1), QKVW: v(o + 2), QKVB: v(o + 3),
			AttnW: v(o + 4), AttnB: v(o + 5), LN2W: v(o + 6), LN2B: v(o + 7),
			FCW: v(o + 8), FCB: v(o + 9), ProjW: v(o + 10), ProjB: v(o + 11),
		})
	}
	n := len(l.Tensors)
	w.LNFW, w.LNFB = v(n-2), v(n-1)
	return w
}
