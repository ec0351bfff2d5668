package bloom

import "bloom/npu"

// gemmWeight sets out (N,n) = in (N,k)·Wᵀ for a weight W (n,k): through the
// packed copy pw when there is one and d can use it, else by Gemm. The two
// give the same values (npu.WeightPacker).
func gemmWeight(d npu.Device, pw npu.PackedB, N, n, k int, in, w, out npu.Buf) {
	if pw != nil {
		if wp, ok := d.(npu.WeightPacker); ok {
			wp.GemmPacked(false, N, 1, in, k, pw, 0, out, n)
			return
		}
	}
	d.Gemm(false, true, N, n, k, 1, in, k, w, k, 0, out, n)
}

// PackWeights keeps a copy of every weight matrix this rank holds (the
// blocks' linears and the tied head) in the layout the device's GEMM reads,
// when the device is an npu.WeightPacker, so that inference passes skip
// re-packing each weight in every product: what a decode step of a few rows
// spends most of its time on otherwise. It reports whether the device packs.
// The copies take as much memory again as the matrices.
//
// The copies do not follow Params: Step, the training passes and
// InitRandom drop them, and whoever writes Params otherwise (a checkpoint
// load, an optimizer outside Step) calls PackWeights again, or
// UnpackWeights. Products in half precision (SetPrecision) do not use
// them, so under half precision it packs nothing and reports false.
func (m *Model) PackWeights() bool {
	wp, ok := m.Dev.(npu.WeightPacker)
	if !ok || m.precision != npu.F32 {
		return false
	}
	for i := range m.W.Blocks {
		for _, l := range m.W.Blocks[i].linears() {
			l.packed = wp.PackB(true, l.in, l.out, l.W, l.in)
		}
	}
	if m.Part.Head && m.W.WTE != nil {
		m.W.wtePacked = wp.PackB(true, m.Cfg.Hidden, m.tp.vocab, m.W.WTE, m.Cfg.Hidden)
	}
	return true
}

// UnpackWeights drops the copies PackWeights made.
func (m *Model) UnpackWeights() {
	for i := range m.W.Blocks {
		for _, l := range m.W.Blocks[i].linears() {
			l.packed = nil
		}
	}
	m.W.wtePacked = nil
}
