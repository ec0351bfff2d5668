package cpu

import "math"

// The bf16 GEMM kernel (AVX512_BF16's VDPBF16PS, gemm_bf16_amd64.s) takes
// its operands in k-pairs: each 32-bit slot of a packed panel holds two bf16
// values adjacent in k, the one at even k in the low 16 bits, the next in
// the high 16 bits, and one instruction adds both pairs' products to a
// float32 accumulator. The packed panels are those of the float32 nest with
// kc halved (gemmStep.kd):
//
//	A, MR rows:    slot q·MR + r  = A[r][2q] | A[r][2q+1]<<16     (ceil(kc/2)·MR slots)
//	B, NR columns: slot q·NR + j  = B[2q][j] | B[2q+1][j]<<16     (ceil(kc/2)·NR slots)
//
// zero past m, n and, when kc is odd, in the high half of the last pair, so
// the padding adds 0·0. The slots are float32 scratch memory holding these
// bits, never read as floats by Go code. The packers are plain Go on every
// target: they are what the tests check here, where no CPU may have the
// instruction.

// bgemmImpl is the bf16 kernel GemmHalf runs for bf16 operands, or nil
// where the CPU has none (then bf16 widens to the float32 kernel). Set once
// by init (gemm_amd64.go); tests swap it.
var bgemmImpl *gemmImpl

// pair packs two bf16 values, lo at the even k, into one slot.
func pair(lo, hi uint16) float32 { return math.Float32frombits(uint32(lo) | uint32(hi)<<16) }

// packBlockAPairs packs rows [i0, i0+mc) and depth [p0, p0+kc) of op(A) as
// consecutive MR-row panels of k-pairs, each ceil(kc/2)·MR slots.
func (g *gemmOp) packBlockAPairs(d []float32, i0, mc, p0, kc int) {
	mr, kd := g.mr, ceilDiv(kc, 2)
	tiles := ceilDiv(mc, mr)
	clear(d[:tiles*mr*kd])
	rows := min(mc, g.m-i0)
	if !g.transA {
		// A row is contiguous in k: each pair is one 32-bit read.
		for i := range rows {
			src := g.ha[(i0+i)*g.lda+p0:][:kc]
			dt := d[(i/mr)*mr*kd+i%mr:]
			for q := range kc / 2 {
				dt[q*mr] = pair(src[2*q], src[2*q+1])
			}
			if kc%2 == 1 {
				dt[(kd-1)*mr] = pair(src[kc-1], 0)
			}
		}
		return
	}
	// A stored k×m: two rows of it give one row of pairs.
	for q := range kd {
		lo := g.ha[(p0+2*q)*g.lda+i0:][:rows]
		var hi []uint16
		if 2*q+1 < kc {
			hi = g.ha[(p0+2*q+1)*g.lda+i0:][:rows]
		}
		for i, v := range lo {
			var h uint16
			if hi != nil {
				h = hi[i]
			}
			d[(i/mr)*mr*kd+q*mr+i%mr] = pair(v, h)
		}
	}
}

// packPanelsBPairs packs the first panels NR-column panels of step st into
// st.bp as k-pairs, each ceil(kc/2)·NR slots.
func (g *gemmOp) packPanelsBPairs(st *gemmStep, panels int) {
	nr, kc, kd := g.nr, st.kc, st.kd
	d := st.bp[:panels*nr*kd]
	clear(d)
	cols := min(panels*nr, g.n-st.jc)
	if g.transB {
		// B stored n×k: a column of op(B) is contiguous in k.
		for j := range cols {
			src := g.hb[(st.jc+j)*g.ldb+st.pc:][:kc]
			dp := d[(j/nr)*nr*kd+j%nr:]
			for q := range kc / 2 {
				dp[q*nr] = pair(src[2*q], src[2*q+1])
			}
			if kc%2 == 1 {
				dp[(kd-1)*nr] = pair(src[kc-1], 0)
			}
		}
		return
	}
	for q := range kd {
		lo := g.hb[(st.pc+2*q)*g.ldb+st.jc:][:cols]
		var hi []uint16
		if 2*q+1 < kc {
			hi = g.hb[(st.pc+2*q+1)*g.ldb+st.jc:][:cols]
		}
		for j, v := range lo {
			var h uint16
			if hi != nil {
				h = hi[j]
			}
			d[(j/nr)*nr*kd+q*nr+j%nr] = pair(v, h)
		}
	}
}
