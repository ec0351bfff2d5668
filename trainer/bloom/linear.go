package bloom

import "bloom/npu"

// linearForward sets out (N,OC) = in (N,C)·wᵀ + b, with w (OC,C) and b (OC)
// or nil.
func linearForward(d npu.Device, out, in, w, b npu.Buf, N, C, OC int) {
	d.Gemm(false, true, N, OC, C, 1, in, C, w, C, 0, out, OC)
	if b != nil {
		d.AddBias(out, b, N, OC)
	}
}

// linearBackward adds dOutᵀ·in into dw (OC,C) and the column sums of dOut
// into db (OC); nil skips either (a frozen weight). It sets dIn (N,C) =
// dOut·w, or adds it when accumulate is true; dIn nil skips it.
func linearBackward(d npu.Device, dIn, dw, db, dOut, in, w npu.Buf, N, C, OC int, accumulate bool) {
	if dIn != nil {
		beta := float32(0)
		if accumulate {
			beta = 1
		}
		d.Gemm(false, false, N, C, OC, 1, dOut, OC, w, C, beta, dIn, C)
	}
	if dw != nil {
		d.Gemm(true, false, OC, C, N, 1, dOut, OC, in, C, 1, dw, C)
	}
	if db != nil {
		d.BiasBackward(db, dOut, N, OC)
	}
}

// rowParallelForward sets out (N,OC) = Σ_ranks in (N,C')·w'ᵀ + b: each
// tensor-parallel rank multiplies its columns C' of the input and of w
// (OC,C'), the partial products are summed across ranks, and the bias (OC),
// which every rank holds, is added once. With one rank it is linearForward.
func rowParallelForward(d npu.Device, tp *tensorPar, out, in, w, b npu.Buf, N, C, OC int) error {
	d.Gemm(false, true, N, OC, C, 1, in, C, w, C, 0, out, OC)
	if err := tp.sum(out); err != nil {
		return err
	}
	d.AddBias(out, b, N, OC)
	return nil
}
