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
		if h, ok := d.(*halfGemm); ok {
			h.gemmPacked(N, n, k, in, pw, out)
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
// The copies take as much memory again as the matrices (half as much in
// a half type, below).
//
// The copies do not follow Params: Step, the training passes and
// InitRandom drop them, and whoever writes Params otherwise (a checkpoint
// load, an optimizer outside Step) calls PackWeights again, or
// UnpackWeights. Under half precision (SetPrecision) the copies hold the
// weights rounded to the half type — kept in that type (half the memory,
// and half the bytes a decoding step reads) where the device's products
// read it so (npu.HalfWeightPacker; the CPU device with AVX2 or AVX-512),
// else widened back — and the products round their
// other operand as they start (halfGemm.gemmPacked): the bits of the
// unpacked half products where the device's GemmHalf multiplies widened
// operands in float32 (the CPU's, but for bf16 on CPUs with AVX512_BF16).
func (m *Model) PackWeights() bool {
	wp, ok := m.Dev.(npu.WeightPacker)
	if !ok {
		return false
	}
	// Under half precision each weight is rounded into one scratch as
	// large as the largest, which the packer copies from.
	var h npu.HalfBuf
	var r npu.Buf
	if m.precision != npu.F32 {
		most := m.Cfg.Hidden * m.tp.vocab
		for i := range m.W.Blocks {
			for _, l := range m.W.Blocks[i].linears() {
				most = max(most, l.in*l.out)
			}
		}
		h = m.Dev.AllocHalf(m.precision, most)
	}
	pack := func(w npu.Buf, k, n int) npu.PackedB {
		if m.precision == npu.F32 {
			return wp.PackB(true, k, n, w, k)
		}
		hw := h.Slice(0, k*n)
		m.Dev.ToHalf(hw, w, k*n)
		if hp, ok := wp.(npu.HalfWeightPacker); ok {
			return hp.PackBHalf(true, k, n, hw, k)
		}
		if r == nil {
			r = m.Dev.Alloc(h.Len())
		}
		rw := r.Slice(0, k*n)
		m.Dev.FromHalf(rw, hw, k*n)
		return wp.PackB(true, k, n, rw, k)
	}
	for i := range m.W.Blocks {
		for _, l := range m.W.Blocks[i].linears() {
			l.packed = pack(l.W, l.in, l.out)
		}
	}
	if m.Part.Head && m.W.WTE != nil {
		m.W.wtePacked = pack(m.W.WTE, m.Cfg.Hidden, m.tp.vocab)
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
