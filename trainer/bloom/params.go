package bloom

import (
	"fmt"
	"strings"

	"bloom/npu"
)

// Split says how a tensor is divided among tensor-parallel ranks (bloom.md
// §2): rank r of TP holds the r-th of TP contiguous, equal chunks along one
// dimension, or all of it.
type Split int

const (
	Replicated Split = iota // every rank holds all of it: layer norms, row-parallel biases
	SplitRows               // dim 0: qkv and dense_h_to_4h (weight, bias), word embeddings
	SplitCols               // dim 1: self_attention.dense and dense_4h_to_h weights
)

// Tensor is one named parameter inside the flat buffer. In a Part's layout,
// Shape is this rank's piece and Global the whole tensor's shape.
type Tensor struct {
	Name   string // Hugging Face name without the "transformer." prefix
	Shape  []int  // Linear weights are (out, in), as PyTorch stores them
	Offset int    // first element in the flat buffer
	Size   int    // elements
	Decay  bool   // AdamW weight decay applies (not to biases and layer norms)
	Global []int  // the shape of the whole tensor
	Split  Split  // how tensor-parallel ranks divide it
	// Tied marks the copy of the word embeddings that a last pipeline stage
	// holds for the head when it is not also the first stage; its gradient is
	// summed with the first stage's (Megatron's embedding group), so the two
	// copies stay identical.
	Tied bool
	// Adapter marks a LoRA adapter tensor; Frozen a tensor that does not
	// train: under LoRA, every one that is not an adapter.
	Adapter, Frozen bool
}

// Layout places every parameter of a Part of a Config in one flat buffer, in
// Hugging Face order: embeddings, then block by block, then the final norm.
// A Part holds a subset of the tensors, each cut to its tensor-parallel
// piece, in the same order.
type Layout struct {
	Tensors []Tensor
	Size    int // elements in the flat buffer
	Part    Part
	index   map[string]int
	lora    LoRA // the adapters' rank and scale
}

// NewLayout lays out all the parameters of c.
func NewLayout(c Config) *Layout { return NewPartLayout(c, FullPart(c)) }

// NewPartLayout lays out the parameters a Part p of c holds. p must be valid
// for c (Part.Validate).
func NewPartLayout(c Config, p Part) *Layout {
	l := &Layout{index: map[string]int{}, Part: p, lora: c.LoRA}
	C := c.Hidden
	if p.Embed || p.Head {
		l.add("word_embeddings.weight", true, SplitRows, c.Vocab, C)
		l.Tensors[0].Tied = !p.Embed
	}
	if p.Embed {
		l.add("word_embeddings_layernorm.weight", false, Replicated, C)
		l.add("word_embeddings_layernorm.bias", false, Replicated, C)
	}
	for i := p.First; i < p.First+p.Layers; i++ {
		pre := fmt.Sprintf("h.%d.", i)
		l.add(pre+"input_layernorm.weight", false, Replicated, C)
		l.add(pre+"input_layernorm.bias", false, Replicated, C)
		l.add(pre+"self_attention.query_key_value.weight", true, SplitRows, 3*C, C)
		l.add(pre+"self_attention.query_key_value.bias", false, SplitRows, 3*C)
		l.add(pre+"self_attention.dense.weight", true, SplitCols, C, C)
		l.add(pre+"self_attention.dense.bias", false, Replicated, C)
		l.add(pre+"post_attention_layernorm.weight", false, Replicated, C)
		l.add(pre+"post_attention_layernorm.bias", false, Replicated, C)
		l.add(pre+"mlp.dense_h_to_4h.weight", true, SplitRows, 4*C, C)
		l.add(pre+"mlp.dense_h_to_4h.bias", false, SplitRows, 4*C)
		l.add(pre+"mlp.dense_4h_to_h.weight", true, SplitCols, C, 4*C)
		l.add(pre+"mlp.dense_4h_to_h.bias", false, Replicated, C)
		l.addAdapters(c, pre)
	}
	if p.Head {
		l.add("ln_f.weight", false, Replicated, C)
		l.add("ln_f.bias", false, Replicated, C)
	}
	if c.LoRA.On() {
		for i := range l.Tensors {
			l.Tensors[i].Frozen = !l.Tensors[i].Adapter
		}
	}
	return l
}

func (l *Layout) add(name string, decay bool, split Split, global ...int) {
	shape := append([]int(nil), global...)
	if split != Replicated && l.Part.TP > 1 {
		shape[int(split)-1] /= l.Part.TP
	}
	n := 1
	for _, d := range shape {
		n *= d
	}
	l.index[name] = len(l.Tensors)
	l.Tensors = append(l.Tensors, Tensor{Name: name, Shape: shape, Offset: l.Size, Size: n, Decay: decay,
		Global: global, Split: split})
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

// Block holds the views of one transformer block's parameters. Shapes are
// for one rank of TP: C' = C/TP, F' = 4C/TP.
type Block struct {
	LN1W, LN1B npu.Buf // (C)
	QKV        Linear  // self_attention.query_key_value, column-parallel: W (3C', C) rows laid out [NH/TP, 3, HD], B (3C')
	Dense      Linear  // self_attention.dense, row-parallel: W (C, C'), B (C)
	LN2W, LN2B npu.Buf // (C)
	FC         Linear  // mlp.dense_h_to_4h, column-parallel: W (F', C), B (F')
	Proj       Linear  // mlp.dense_4h_to_h, row-parallel: W (C, F'), B (C)
}

// linears lists b's linears in forward order, as blockLinears does.
func (b *Block) linears() []*Linear { return []*Linear{&b.QKV, &b.Dense, &b.FC, &b.Proj} }

// Weights are named views into a flat buffer laid out by Layout. The same
// type serves the parameters and their gradients.
type Weights struct {
	WTE            npu.Buf // (V/TP, C) word embeddings, tied lm_head
	EmbLNW, EmbLNB npu.Buf // (C)
	Blocks         []Block
	LNFW, LNFB     npu.Buf // (C)

	wtePacked npu.PackedB // WTE packed for the head's product (Model.PackWeights), or nil
}

// Views cuts buf (Layout.Size elements) into named views; the tensors a
// Part does not hold are nil. The views share buf's memory.
func (l *Layout) Views(buf npu.Buf) Weights {
	v := func(name string) npu.Buf {
		i, ok := l.index[name]
		if !ok {
			return nil
		}
		t := l.Tensors[i]
		return buf.Slice(t.Offset, t.Size)
	}
	w := Weights{WTE: v("word_embeddings.weight"), EmbLNW: v("word_embeddings_layernorm.weight"),
		EmbLNB: v("word_embeddings_layernorm.bias"), LNFW: v("ln_f.weight"), LNFB: v("ln_f.bias")}
	for i := l.Part.First; i < l.Part.First+l.Part.Layers; i++ {
		p := fmt.Sprintf("h.%d.", i)
		w.Blocks = append(w.Blocks, Block{
			LN1W: v(p + "input_layernorm.weight"), LN1B: v(p + "input_layernorm.bias"),
			QKV: l.linear(buf, p, LoRAQKV), Dense: l.linear(buf, p, LoRADense),
			LN2W: v(p + "post_attention_layernorm.weight"), LN2B: v(p + "post_attention_layernorm.bias"),
			FC: l.linear(buf, p, LoRAFC), Proj: l.linear(buf, p, LoRAProj),
		})
	}
	return w
}

// linear cuts block prefix pre's linear t, with its adapter if it has one,
// out of buf.
func (l *Layout) linear(buf npu.Buf, pre string, t LoRATarget) Linear {
	m := linearOf(t)
	name := pre + m.module
	w, b := l.Tensors[l.index[name+".weight"]], l.Tensors[l.index[name+".bias"]]
	return Linear{W: buf.Slice(w.Offset, w.Size), B: buf.Slice(b.Offset, b.Size), LoRA: l.adapterView(buf, name),
		in: w.Shape[1], out: w.Shape[0], role: m.role, frozen: w.Frozen}
}
