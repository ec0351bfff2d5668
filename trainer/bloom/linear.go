package bloom

import "bloom/npu"

// tpRole is how a linear divides among tensor-parallel ranks (Megatron's
// ColumnParallelLinear and RowParallelLinear).
type tpRole uint8

const (
	// columnParallel: each rank holds rows of W and b, so it computes its
	// slice of the output from the whole input; its input gradient is a
	// partial sum, summed across ranks in the backward.
	columnParallel tpRole = iota
	// rowParallel: each rank holds columns of W, so it multiplies its slice
	// of the input; the partial outputs are summed across ranks in the
	// forward, before the bias, which every rank holds whole.
	rowParallel
)

// Linear is one linear of a block, y = x·Wᵀ + b, and its LoRA adapter when
// LoRA targets it: views into a flat buffer (Layout.Views) with this rank's
// sizes. The same type serves the parameters and their gradients.
type Linear struct {
	W    npu.Buf // (out, in) as PyTorch stores it: this rank's piece
	B    npu.Buf // (out) this rank's piece; whole for a row-parallel linear
	LoRA Adapter // the adapter (lora.go); zero when LoRA does not target this linear

	in, out int         // this rank's input and output widths
	role    tpRole      // how the ranks divide it
	frozen  bool        // W and b do not train (under LoRA): the backward skips their gradients
	packed  npu.PackedB // W packed for inference (Model.PackWeights), or nil
}

// linearIn is a linear's input (N,in) as the forward computes it and the
// backward keeps it. In float32, and for a linear with a LoRA adapter
// (whose products are float32), x holds it. Under half precision the
// backward of a linear without an adapter uses its input only as an
// operand of the weight gradient's product, which rounds it to the half
// type anyway; so h keeps it rounded, in half the bytes, x is nil, and the
// forward computes it in scratch (value) and rounds it into h (keep)
// before the forward's product reads h. The products are the same, bit
// for bit.
type linearIn struct {
	x npu.Buf     // (N,in) float32, or nil
	h npu.HalfBuf // (N,in) rounded to the products' half type, or nil
}

// newLinearIn allocates n values of the input of linear t (0 for the
// head), kept in keep's type: F32, or a half type unless LoRA adapts t.
func newLinearIn(d npu.Device, c Config, t LoRATarget, keep npu.DType, n int) linearIn {
	if keep == npu.F32 || c.LoRA.Targets&t != 0 {
		return linearIn{x: d.Alloc(n)}
	}
	return linearIn{h: d.AllocHalf(keep, n)}
}

// value is where the forward computes the input: x, or scratch when only
// the half copy is kept.
func (in linearIn) value(scratch npu.Buf) npu.Buf {
	if in.x != nil {
		return in.x
	}
	return scratch
}

// keep rounds the n values the forward computed in v into h, when h is
// kept.
func (in linearIn) keep(d npu.Device, v npu.Buf, n int) {
	if in.h != nil {
		d.ToHalf(in.h, v, n)
	}
}

// gemmIn sets out (N,n) = in·Wᵀ for a weight W (n,k): from in's half copy
// when it keeps one (the product Gemm computes from its float32 values),
// else as gemmWeight does.
func gemmIn(d npu.Device, pw npu.PackedB, N, n, k int, in linearIn, w, out npu.Buf) {
	if in.h != nil {
		halfOf(d).gemmA(false, true, N, n, k, 1, in.h, k, w, k, 0, out, n)
		return
	}
	gemmWeight(d, pw, N, n, k, in.x, w, out)
}

// gemmGradW adds dOutᵀ·in into dw (n,k), dOut being (N,n): from in's half
// copy when it keeps one.
func gemmGradW(d npu.Device, N, n, k int, dOut npu.Buf, in linearIn, dw npu.Buf) {
	if in.h != nil {
		halfOf(d).gemmB(true, false, n, k, N, 1, dOut, n, in.h, k, 1, dw, k)
		return
	}
	d.Gemm(true, false, n, k, N, 1, dOut, n, in.x, k, 1, dw, k)
}

// forward sets out (N,out) = in (N,in)·Wᵀ + b, plus the adapter's
// (alpha/r)·B·A·in, saving u (N,R) = A·in for the backward (u is nil without
// an adapter). A row-parallel linear sums its ranks' partial products before
// the bias.
func (l *Linear) forward(d npu.Device, tp *tensorPar, out npu.Buf, in linearIn, u npu.Buf, N int) error {
	gemmIn(d, l.packed, N, l.out, l.in, in, l.W, out)
	if l.role == rowParallel {
		if err := tp.sum(out); err != nil {
			return err
		}
	}
	d.AddBias(out, l.B, N, l.out)
	if l.LoRA.A == nil {
		return nil
	}
	return l.loraForward(d, tp, out, in.x, u, N)
}

// backward sets dIn (N,in) = ∂L/∂in from dOut (N,out) and adds the gradients
// of what trains into dl: dOutᵀ·in into dl.W and the column sums of dOut into
// dl.B unless the linear is frozen, and the adapter's into dl.LoRA. in and u
// are what forward was given and saved; du (N,R) is scratch. A
// column-parallel linear's input gradient is summed across ranks.
func (l *Linear) backward(d npu.Device, tp *tensorPar, dl *Linear, dIn, dOut npu.Buf, in linearIn, u, du npu.Buf, N int) error {
	d.Gemm(false, false, N, l.in, l.out, 1, dOut, l.out, l.W, l.in, 0, dIn, l.in)
	if !l.frozen {
		gemmGradW(d, N, l.out, l.in, dOut, in, dl.W)
		d.BiasBackward(dl.B, dOut, N, l.out)
	}
	if l.LoRA.A != nil {
		if err := l.loraBackward(d, tp, &dl.LoRA, dIn, dOut, in.x, u, du, N); err != nil {
			return err
		}
	}
	if l.role == columnParallel {
		return tp.sum(dIn)
	}
	return nil
}

// blockLinear describes one of a block's linears.
type blockLinear struct {
	t       LoRATarget // the linear's LoRA target bit, which names it
	module  string     // its name in a block
	role    tpRole
	in, out int // its global input and output widths, in multiples of the hidden size
}

// blockLinears are a block's linears in forward order.
var blockLinears = []blockLinear{
	{LoRAQKV, "self_attention.query_key_value", columnParallel, 1, 3},
	{LoRADense, "self_attention.dense", rowParallel, 1, 1},
	{LoRAFC, "mlp.dense_h_to_4h", columnParallel, 1, 4},
	{LoRAProj, "mlp.dense_4h_to_h", rowParallel, 4, 1},
}

// linearOf is target t's entry of blockLinears.
func linearOf(t LoRATarget) blockLinear {
	for _, m := range blockLinears {
		if m.t == t {
			return m
		}
	}
	panic("bloom: not a linear of a block")
}
