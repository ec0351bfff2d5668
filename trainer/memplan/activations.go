package memplan

import (
	"cmp"

	"bloom/trainer/bloom"
)

// activations is the bytes a rank of part keeps for inFlight micro-batches
// (the package doc's formulas): Megatron's 16-bit counts scaled to e's
// activation bytes, the logits in e.Logit bytes.
func (j Job) activations(part bloom.Part, inFlight int, e Elem) int64 {
	s, b := int64(j.SeqLength), int64(j.MicroBatch)
	h, V, t := int64(j.Model.Hidden), int64(j.Model.Vocab), int64(j.TP)
	sbh := s * b * h
	scale := func(bytes16 int64) int64 { return bytes16 * e.Activation / 2 }
	lin := j.linearIn16()
	layer := scale(j.layer16()-lin) + lin*e.LinearInput/2 // one layer's full set, one micro-batch
	logits := s * b * V / t * e.Logit
	if j.Inference { // a generation's cache keeps float32
		kv := 2 * int64(part.Layers) * int64(j.KVTokens) * h / t * cmp.Or(j.KVBytes, e.Activation)
		kv += 2 * int64(part.Layers) * int64(j.EngineCaches) * s * h / t * 4 // the engine's own caches
		out := scale(j.layer16()) + kv
		if part.Head {
			out += logits
		}
		return out
	}
	perMicro := int64(part.Layers) * layer
	working := int64(0)
	if j.Recompute {
		perMicro = int64(part.Layers) * scale(2*sbh) // each layer's input only
		working = layer                              // the layer being recomputed
	}
	if part.Embed {
		perMicro += scale(2 * sbh) // the embedding layer norm's input
	}
	if part.Head {
		perMicro += scale(2*sbh) + 2*sbh*e.LinearInput/2 + logits // ln_f's and the head's inputs; fp32 logits
	}
	return int64(inFlight)*perMicro + working
}

// layer16 is one transformer layer's activations for one micro-batch in
// 16-bit bytes, Korthikanti et al. 2022 without sequence parallelism:
// s·b·h·(10 + 24/t) + 5·a·s²·b/t.
func (j Job) layer16() int64 {
	s, b := int64(j.SeqLength), int64(j.MicroBatch)
	h, a, t := int64(j.Model.Hidden), int64(j.Model.Heads), int64(j.TP)
	sbh := s * b * h
	return 10*sbh + 24*sbh/t + 5*a*s*s*b/t
}

// linearIn16 is the part of layer16 that is the inputs of the linears
// without a LoRA adapter, in 16-bit bytes: query_key_value's and
// dense_h_to_4h's 2·s·b·h each (whole under tensor parallelism), dense's
// 2·s·b·h/t and dense_4h_to_h's 8·s·b·h/t.
func (j Job) linearIn16() int64 {
	sbh, t := int64(j.SeqLength)*int64(j.MicroBatch)*int64(j.Model.Hidden), int64(j.TP)
	var n int64
	for _, l := range []struct {
		t     bloom.LoRATarget
		bytes int64
	}{{bloom.LoRAQKV, 2 * sbh}, {bloom.LoRADense, 2 * sbh / t}, {bloom.LoRAFC, 2 * sbh}, {bloom.LoRAProj, 8 * sbh / t}} {
		if j.Model.LoRA.Targets&l.t == 0 {
			n += l.bytes
		}
	}
	return n
}
