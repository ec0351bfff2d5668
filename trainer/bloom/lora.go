package bloom

import (
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
	R       int        // rank (--lora-r)
	Alpha   float32    // scaling numerator (--lora-alpha): the adapter's output is multiplied by Alpha/R
	Targets LoRATarget // the linears adapted (--lora-target-modules)
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

// loraModules lists the targets in block order with their module names.
var loraModules = []struct {
	t      LoRATarget
	module string // the linear's name in a block
	rowPar bool   // row-parallel: the input is split across tensor-parallel ranks
}{
	{LoRAQKV, "self_attention.query_key_value", false},
	{LoRADense, "self_attention.dense", true},
	{LoRAFC, "mlp.dense_h_to_4h", false},
	{LoRAProj, "mlp.dense_4h_to_h", true},
}

// ParseLoRATargets reads module names ("query_key_value", "dense",
// "dense_h_to_4h", "dense_4h_to_h", with or without their
// "self_attention."/"mlp." prefix).
func ParseLoRATargets(names []string) (LoRATarget, error) {
	var t LoRATarget
	for _, n := range names {
		found := false
		for _, m := range loraModules {
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
	for _, m := range loraModules {
		if t&m.t != 0 {
			out = append(out, m.module[strings.LastIndexByte(m.module, '.')+1:])
		}
	}
	return out
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
// column-parallel one).
type Adapter struct{ A, B npu.Buf }

// loraDims are target t's linear's global input and output sizes.
func loraDims(c Config, t LoRATarget) (in, out int) {
	C := c.Hidden
	switch t {
	case LoRAQKV:
		return C, 3 * C
	case LoRAFC:
		return C, 4 * C
	case LoRAProj:
		return 4 * C, C
	}
	return C, C
}

// addAdapters lays out block prefix pre's adapters.
func (l *Layout) addAdapters(c Config, pre string) {
	for _, m := range loraModules {
		if c.LoRA.Targets&m.t == 0 {
			continue
		}
		in, out := loraDims(c, m.t)
		aSplit, bSplit := Replicated, SplitRows
		if m.rowPar {
			aSplit, bSplit = SplitCols, Replicated
		}
		l.add(pre+m.module+".lora_A.weight", true, aSplit, c.LoRA.R, in)
		l.Tensors[len(l.Tensors)-1].Adapter = true
		l.add(pre+m.module+".lora_B.weight", true, bSplit, out, c.LoRA.R)
		l.Tensors[len(l.Tensors)-1].Adapter = true
	}
}

// adapterViews cuts block prefix pre's adapters out of buf.
func (l *Layout) adapterViews(buf npu.Buf, pre string) [4]Adapter {
	var ads [4]Adapter
	for i, m := range loraModules {
		a, okA := l.index[pre+m.module+".lora_A.weight"]
		b, okB := l.index[pre+m.module+".lora_B.weight"]
		if okA && okB {
			ta, tb := l.Tensors[a], l.Tensors[b]
			ads[i] = Adapter{A: buf.Slice(ta.Offset, ta.Size), B: buf.Slice(tb.Offset, tb.Size)}
		}
	}
	return ads
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

// loraForward adds scale·(x·Aᵀ)·Bᵀ into out (N,OUT), keeping u = x·Aᵀ
// (N,R) for the backward. A row-parallel linear's x and A hold this rank's
// input columns, so u's partial products are summed across tensor-parallel
// ranks first, and out is the summed output (B is whole); a
// column-parallel one's A is whole and out and B hold this rank's rows.
func loraForward(d npu.Device, tp *tensorPar, ad Adapter, u, out, x npu.Buf, N, in, outN, R int, scale float32, rowPar bool) error {
	d.Gemm(false, true, N, R, in, 1, x, in, ad.A, in, 0, u, R)
	if rowPar {
		if err := tp.sum(u); err != nil {
			return err
		}
	}
	d.Gemm(false, true, N, outN, R, scale, u, R, ad.B, R, 1, out, outN)
	return nil
}

// loraBackward adds the adapter's gradients into g from dy (N,OUT), the
// gradient of its output, and adds its part of the input gradient into dx
// (N,IN). du (N,R) is scratch. For a column-parallel linear dy and B hold
// this rank's rows, so du = scale·dy·B is a partial sum: dx gets the
// partial (the caller sums dx across ranks, as for the base weight) and
// du is summed before A's gradient.
func loraBackward(d npu.Device, tp *tensorPar, ad, g Adapter, du, dx, dy, x, u npu.Buf, N, in, outN, R int, scale float32, rowPar bool) error {
	d.Gemm(true, false, outN, R, N, scale, dy, outN, u, R, 1, g.B, R)
	d.Gemm(false, false, N, R, outN, scale, dy, outN, ad.B, R, 0, du, R)
	d.Gemm(false, false, N, in, R, 1, du, R, ad.A, in, 1, dx, in)
	if !rowPar {
		if err := tp.sum(du); err != nil {
			return err
		}
	}
	d.Gemm(true, false, R, in, N, 1, du, R, x, in, 1, g.A, in)
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
	d, s := m.Dev, m.Cfg.LoRA.Scale()
	copyTensors(out, m)
	for i := range m.W.Blocks {
		base := [4]npu.Buf{out.W.Blocks[i].QKVW, out.W.Blocks[i].AttnW, out.W.Blocks[i].FCW, out.W.Blocks[i].ProjW}
		for k, ad := range m.W.Blocks[i].LoRA {
			if ad.A == nil {
				continue
			}
			in, rows := loraDims(m.Cfg, loraModules[k].t)
			d.Gemm(false, false, rows, in, m.Cfg.LoRA.R, s, ad.B, m.Cfg.LoRA.R, ad.A, in, 1, base[k], in)
		}
	}
	return out, nil
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

// frozen is g, the gradient of a base weight, or nil when c's base weights
// are frozen (LoRA), so that its backward skips computing it.
func frozen(c Config, g npu.Buf) npu.Buf {
	if c.LoRA.On() {
		return nil
	}
	return g
}
