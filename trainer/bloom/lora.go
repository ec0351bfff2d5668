package bloom

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"

	"bloom/npu"
)

// LoRA is low-rank adaptation as peft applies it and AscendSpeed's
// --lora-* flags configure it: each target linear y = W·x + b becomes
// y = W·x + b + (Alpha/R)·B·(A·x), A (R, in) and B (out, R) the adapter,
// and only the adapters train; every other parameter is frozen. The zero
// value is no LoRA.
type LoRA struct {
	R       int        `json:"lora_r,omitempty"`              // rank (--lora-r)
	Alpha   float32    `json:"lora_alpha,omitempty"`          // scaling numerator (--lora-alpha): the adapter's output is multiplied by Alpha/R
	Targets LoRATarget `json:"lora_target_modules,omitempty"` // the linears adapted (--lora-target-modules)
}

// LoRATarget is a set of adapted linears of every block.
type LoRATarget uint8

// The linears of a block LoRA can adapt, by their module names. peft
// matches a name by suffix, so "dense" is the attention's output projection
// only.
const (
	LoRAQKV   LoRATarget = 1 << iota // self_attention.query_key_value (column-parallel)
	LoRADense                        // self_attention.dense (row-parallel)
	LoRAFC                           // mlp.dense_h_to_4h (column-parallel)
	LoRAProj                         // mlp.dense_4h_to_h (row-parallel)
)

// ParseLoRATargets reads module names ("query_key_value", "dense",
// "dense_h_to_4h", "dense_4h_to_h", with or without their
// "self_attention."/"mlp." prefix).
func ParseLoRATargets(names []string) (LoRATarget, error) {
	var t LoRATarget
	for _, n := range names {
		found := false
		for _, m := range blockLinears {
			if n == m.module || strings.HasSuffix(m.module, "."+n) {
				t |= m.t
				found = true
			}
		}
		if !found {
			return 0, fmt.Errorf("%w: LoRA target module %q: BLOOM's are query_key_value, dense, dense_h_to_4h and dense_4h_to_h", ErrConfig, n)
		}
	}
	return t, nil
}

// Names lists the targets' module names (the short ones), in block order.
func (t LoRATarget) Names() []string {
	var out []string
	for _, m := range blockLinears {
		if t&m.t != 0 {
			out = append(out, m.module[strings.LastIndexByte(m.module, '.')+1:])
		}
	}
	return out
}

// MarshalJSON writes the targets' module names (Names).
func (t LoRATarget) MarshalJSON() ([]byte, error) { return json.Marshal(t.Names()) }

// UnmarshalJSON reads module names (ParseLoRATargets).
func (t *LoRATarget) UnmarshalJSON(b []byte) error {
	var names []string
	if err := json.Unmarshal(b, &names); err != nil {
		return err
	}
	v, err := ParseLoRATargets(names)
	if err != nil {
		return err
	}
	*t = v
	return nil
}

// On reports whether any linear is adapted.
func (l LoRA) On() bool { return l.Targets != 0 }

// Scale is Alpha/R.
func (l LoRA) Scale() float32 { return l.Alpha / float32(l.R) }

func (l LoRA) validate() error {
	switch {
	case !l.On() && (l.R != 0 || l.Alpha != 0):
		return fmt.Errorf("%w: LoRA rank %d and alpha %g without target modules", ErrConfig, l.R, l.Alpha)
	case l.On() && (l.R < 1 || !(l.Alpha > 0)):
		return fmt.Errorf("%w: LoRA needs a positive rank and alpha, got r %d, alpha %g", ErrConfig, l.R, l.Alpha)
	case l.Targets&^(LoRAQKV|LoRADense|LoRAFC|LoRAProj) != 0:
		return fmt.Errorf("%w: LoRA targets %#x", ErrConfig, uint8(l.Targets))
	}
	return nil
}

// Adapter is the views of one linear's LoRA pair: A (R, in) and B (out, R),
// this rank's pieces (A's columns of a row-parallel linear, B's rows of a
// column-parallel one). The zero value is no adapter.
type Adapter struct {
	A, B npu.Buf

	r     int     // rank
	scale float32 // alpha/r
}

// addAdapters lays out block prefix pre's adapters.
func (l *Layout) addAdapters(c Config, pre string) {
	for _, m := range blockLinears {
		if c.LoRA.Targets&m.t == 0 {
			continue
		}
		in, out := m.in*c.Hidden, m.out*c.Hidden
		aSplit, bSplit := Replicated, SplitRows
		if m.role == rowParallel {
			aSplit, bSplit = SplitCols, Replicated
		}
		l.add(pre+m.module+".lora_A.weight", true, aSplit, c.LoRA.R, in)
		l.Tensors[len(l.Tensors)-1].Adapter = true
		l.add(pre+m.module+".lora_B.weight", true, bSplit, out, c.LoRA.R)
		l.Tensors[len(l.Tensors)-1].Adapter = true
	}
}

// adapterView cuts the adapter of the linear named module (with its block
// prefix) out of buf; the zero Adapter when it has none.
func (l *Layout) adapterView(buf npu.Buf, module string) Adapter {
	a, okA := l.index[module+".lora_A.weight"]
	b, okB := l.index[module+".lora_B.weight"]
	if !okA || !okB {
		return Adapter{}
	}
	ta, tb := l.Tensors[a], l.Tensors[b]
	return Adapter{A: buf.Slice(ta.Offset, ta.Size), B: buf.Slice(tb.Offset, tb.Size), r: l.lora.R, scale: l.lora.Scale()}
}

// initAdapter initializes an adapter tensor as peft does: A from
// kaiming_uniform(a=√5), that is U(−1/√in, 1/√in), each global row from its
// own stream of seed; B zero, so the adapted model starts as the base.
func initAdapter(t Tensor, gi int, p Part, dst []float32, seed uint64) {
	if strings.Contains(t.Name, ".lora_B.") {
		clear(dst)
		return
	}
	rows, K := t.Global[0], t.Global[1]
	c0, nc := 0, K
	if p.TP > 1 && t.Split == SplitCols {
		c0, nc = pieceOf(K, p)
	}
	bound := 1 / math.Sqrt(float64(K))
	row := make([]float32, K)
	for r := range rows {
		rng := rand.New(rand.NewPCG(seed^0x6c6f7261, uint64(gi)<<40|uint64(r)))
		for k := range row {
			row[k] = float32((2*rng.Float64() - 1) * bound)
		}
		copy(dst[r*nc:(r+1)*nc], row[c0:c0+nc])
	}
}

// InitAdapters re-initializes only the LoRA adapters (A random, B zero),
// from seed: what a fine-tuning run does after loading its base weights.
func (m *Model) InitAdapters(seed uint64) {
	full := NewLayout(m.Cfg)
	for _, t := range m.Layout.Tensors {
		if !t.Adapter {
			continue
		}
		host := make([]float32, t.Size)
		initAdapter(t, full.index[t.Name], m.Part, host, seed)
		m.Dev.Write(m.Params.Slice(t.Offset, t.Size), host)
	}
}

// loraForward adds scale·(x·Aᵀ)·Bᵀ into out (N,out), saving u = x·Aᵀ
// (N,R) for the backward. A row-parallel linear's x (N,in) and A hold this
// rank's input columns, so u's partial products are summed across
// tensor-parallel ranks first, and out is the summed output (B is whole); a
// column-parallel one's A is whole and out and B hold this rank's rows.
func (l *Linear) loraForward(d npu.Device, tp *tensorPar, out, x, u npu.Buf, N int) error {
	ad, d := &l.LoRA, fp32(d)
	d.Gemm(false, true, N, ad.r, l.in, 1, x, l.in, ad.A, l.in, 0, u, ad.r)
	if l.role == rowParallel {
		if err := tp.sum(u); err != nil {
			return err
		}
	}
	d.Gemm(false, true, N, l.out, ad.r, ad.scale, u, ad.r, ad.B, ad.r, 1, out, l.out)
	return nil
}

// loraBackward adds the adapter's gradients into dad from dy (N,out), the
// gradient of its output, and adds its part of the input gradient into dx
// (N,in). x and u (N,R) are loraForward's input and saved x·Aᵀ; du (N,R) is
// scratch. For a column-parallel linear dy and B hold this rank's rows, so
// du = scale·dy·B is a partial sum: dx gets the partial (backward sums dx
// across ranks, as for the base weight) and du is summed before A's
// gradient.
func (l *Linear) loraBackward(d npu.Device, tp *tensorPar, dad *Adapter, dx, dy, x, u, du npu.Buf, N int) error {
	ad, d := &l.LoRA, fp32(d)
	d.Gemm(true, false, l.out, ad.r, N, ad.scale, dy, l.out, u, ad.r, 1, dad.B, ad.r)
	d.Gemm(false, false, N, ad.r, l.out, ad.scale, dy, l.out, ad.B, ad.r, 0, du, ad.r)
	d.Gemm(false, false, N, l.in, ad.r, 1, du, ad.r, ad.A, l.in, 1, dx, l.in)
	if l.role == columnParallel {
		if err := tp.sum(du); err != nil {
			return err
		}
	}
	d.Gemm(true, false, ad.r, l.in, N, 1, du, ad.r, x, l.in, 1, dad.A, l.in)
	return nil
}

// MergeLoRA returns the whole model m with its adapters folded into the
// base weights, W + (Alpha/R)·B·A, and no LoRA: what generation, scoring
// and a Hugging Face export use. m must be a whole model (Full).
func MergeLoRA(m *Model) (*Model, error) {
	if !m.Cfg.LoRA.On() {
		return m, nil
	}
	if !m.Part.Full(m.Cfg) {
		return nil, fmt.Errorf("%w: MergeLoRA takes a whole model", ErrConfig)
	}
	c := m.Cfg
	c.LoRA = LoRA{}
	out, err := New(m.Dev, c)
	if err != nil {
		return nil, err
	}
	copyTensors(out, m)
	for i := range m.W.Blocks {
		merged := out.W.Blocks[i].linears()
		for k, l := range m.W.Blocks[i].linears() {
			l.mergeLoRA(m.Dev, merged[k].W)
		}
	}
	return out, nil
}

// mergeLoRA adds the adapter's scale·B·A into w (out,in), if l has one.
func (l *Linear) mergeLoRA(d npu.Device, w npu.Buf) {
	if ad := &l.LoRA; ad.A != nil {
		d.Gemm(false, false, l.out, l.in, ad.r, ad.scale, ad.B, ad.r, ad.A, l.in, 1, w, l.in)
	}
}

// AddLoRA returns the whole model m with adapters l added (A from seed, B
// zero: the same outputs as m) and every other weight m's, frozen.
func AddLoRA(m *Model, l LoRA, seed uint64) (*Model, error) {
	if m.Cfg.LoRA.On() || !m.Part.Full(m.Cfg) {
		return nil, fmt.Errorf("%w: AddLoRA takes a whole model without adapters", ErrConfig)
	}
	c := m.Cfg
	c.LoRA = l
	out, err := New(m.Dev, c)
	if err != nil {
		return nil, err
	}
	copyTensors(out, m)
	out.InitAdapters(seed)
	return out, nil
}

// copyTensors copies into dst's parameters every tensor that src holds too,
// by name: a model and the same model with or without adapters.
func copyTensors(dst, src *Model) {
	for _, t := range dst.Layout.Tensors {
		if st, ok := src.Layout.Lookup(t.Name); ok {
			dst.Dev.Copy(dst.Params.Slice(t.Offset, t.Size), src.Params.Slice(st.Offset, st.Size))
		}
	}
}
