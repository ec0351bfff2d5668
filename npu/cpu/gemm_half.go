package cpu

import (
	"bloom/internal/half"
	"bloom/npu"
)

// Half operands (GemmHalf) run the float32 loop nest and micro-kernels with
// every panel packed: the packers below read the bits of A and B, widen them
// to float32 (exactly; internal/half's converters, VCVTPH2PS for fp16 and a
// 16-bit shift for bf16) into the goroutine's stage, a panel or a row long,
// and copy them into the kernel's packed layout from there. The packed
// panels hold the very floats a widened copy of the whole operand would, and
// every tile is computed by the same kernel calls, so the result is bit for
// bit the float32 GEMM of the widened operands, with no operand-sized memory.

// hgemm is sgemm for A and B given as the bits of half values of type t. It
// runs bgemmImpl's bf16 kernel for bf16 where the CPU has one, else the
// float32 kernel with the widening packers. It keeps none of the slices.
func hgemm(p *pool, t npu.DType, transA, transB bool, m, n, k int, alpha float32, a []uint16, lda int, b []uint16, ldb int, beta float32, c []float32, ldc int) {
	if m <= 0 || n <= 0 {
		return
	}
	im, widen := halfImpl(t)
	g := getCall()
	defer g.release()
	g.gemmOp = gemmOp{transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha,
		halves: true, ha: a, lda: lda, hb: b, ldb: ldb, widen: widen, beta: beta, c: c, ldc: ldc, gemmImpl: im}
	g.run(p)
}

// rgemm is hgemm with either operand given as float32 values (fa, fb) that
// the packers round to type t and widen back (ha, hb nil then): the bits of
// hgemm on the rounded operands, without them. Where GemmHalf runs the bf16
// kernel (bf16 only), whose packers read bits, the float32 operands are
// rounded into copies first.
func rgemm(p *pool, t npu.DType, transA, transB bool, m, n, k int, alpha float32, fa []float32, ha []uint16, lda int, fb []float32, hb []uint16, ldb int, beta float32, c []float32, ldc int) {
	if m <= 0 || n <= 0 {
		return
	}
	im, widen := halfImpl(t)
	if widen == nil {
		if fa != nil {
			buf := roundedCopy(fa)
			defer halfCopies.put(buf)
			ha = *buf
		}
		if fb != nil {
			buf := roundedCopy(fb)
			defer halfCopies.put(buf)
			hb = *buf
		}
		hgemm(p, t, transA, transB, m, n, k, alpha, ha, lda, hb, ldb, beta, c, ldc)
		return
	}
	g := getCall()
	defer g.release()
	g.gemmOp = gemmOp{transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha,
		halves: true, ha: ha, ra: fa, lda: lda, hb: hb, rb: fb, ldb: ldb, widen: widen, round: roundTrip(t),
		beta: beta, c: c, ldc: ldc, gemmImpl: im}
	g.run(p)
}

// roundedCopy returns f rounded to bf16 in a buffer of halfCopies.
func roundedCopy(f []float32) *[]uint16 {
	buf := halfCopies.get()
	if buf == nil {
		buf = new([]uint16)
	}
	if cap(*buf) < len(f) {
		*buf = make([]uint16, len(f))
	}
	*buf = (*buf)[:len(f)]
	half.ToBF16(*buf, f)
	return buf
}

// halfCopies are rgemm's rounded copies for the bf16 kernel, reused.
var halfCopies freeList[[]uint16]

// loadA sets dst to len(dst) values of A from offset off, widened (or
// rounded to the half type and widened back).
func (g *gemmOp) loadA(dst []float32, off int) {
	if g.ra != nil {
		g.round(dst, g.ra[off:][:len(dst)])
		return
	}
	g.widen(dst, g.ha[off:][:len(dst)])
}

// loadB is loadA for B.
func (g *gemmOp) loadB(dst []float32, off int) {
	if g.rb != nil {
		g.round(dst, g.rb[off:][:len(dst)])
		return
	}
	g.widen(dst, g.hb[off:][:len(dst)])
}

// roundTrip returns the rounding of float32 values to half type t and back
// (internal/half's, in one pass): what ToHalf then FromHalf give.
func roundTrip(t npu.DType) func(dst, src []float32) {
	if t == npu.BF16 {
		return half.RoundBF16
	}
	return half.RoundF16
}

// halfImpl returns the kernel GemmHalf runs for type t and, for a float32
// kernel, the conversion its packers widen with.
func halfImpl(t npu.DType) (*gemmImpl, func([]float32, []uint16)) {
	switch {
	case t == npu.BF16 && bgemmImpl != nil:
		return bgemmImpl, nil
	case t == npu.BF16:
		return sgemmImpl, half.FromBF16
	}
	return sgemmImpl, half.FromF16
}

// packBlockAHalf is packBlockA for half A. A stored m×k is widened a panel
// (MR rows by kc) at a time; A stored k×m one row of mc values at a time,
// whose MR-value runs go to the panels.
func (g *gemmOp) packBlockAHalf(d, stage []float32, i0, mc, p0, kc int) {
	tiles := ceilDiv(mc, g.mr)
	if !g.transA || mc%g.mr != 0 {
		for t := range tiles {
			g.packPanelAHalf(d[t*g.mr*kc:], stage, i0+t*g.mr, p0, kc)
		}
		return
	}
	row := stage[:mc]
	for p := range kc {
		g.loadA(row, (p0+p)*g.lda+i0)
		for t := range tiles {
			copyRow(d[(t*kc+p)*g.mr:], row[t*g.mr:], g.mr)
		}
	}
}

// packPanelAHalf is packPanelA for half A: rows [i, i+MR) (zero past m),
// depth [p0, p0+kc), as kc groups of MR floats.
func (g *gemmOp) packPanelAHalf(d, stage []float32, i, p0, kc int) {
	mr := min(g.mr, g.m-i)
	if g.transA {
		if mr < g.mr {
			clear(d[:g.mr*kc])
		}
		for p := range kc {
			g.loadA(d[p*g.mr:p*g.mr+mr], (p0+p)*g.lda+i)
		}
		return
	}
	for r := range mr {
		g.loadA(stage[r*kc:(r+1)*kc], (i+r)*g.lda+p0)
	}
	if mr == g.mr {
		g.packAN(d, stage, kc, kc)
		return
	}
	clear(d[:g.mr*kc])
	for r := range mr {
		for p, v := range stage[r*kc : (r+1)*kc] {
			d[p*g.mr+r] = v
		}
	}
}

// packPanelsBHalf is packPanelsB for half B. B stored k×n is widened a row of
// the step's columns at a time (zero past n) and cut into the panels; B
// stored n×k a panel (NR rows by kc) at a time, then transposed.
func (g *gemmOp) packPanelsBHalf(st *gemmStep, stage []float32, panels int) {
	kc, nr := st.kc, g.nr
	if g.transB {
		for jp := range panels {
			g.packPanelBTHalf(st.bp[jp*nr*kc:], stage, st.jc+jp*nr, st.pc, kc)
		}
		return
	}
	w := min(panels*nr, g.n-st.jc)
	row := stage[:panels*nr]
	clear(row[w:])
	for p := range kc {
		g.loadB(row[:w], (st.pc+p)*g.ldb+st.jc)
		for jp := range panels {
			copyRow(st.bp[(jp*kc+p)*nr:], row[jp*nr:], nr)
		}
	}
}

// packPanelBTHalf packs columns [j, j+NR) (zero past n), depth [p0, p0+kc),
// of op(B) for half B stored n×k into d as kc rows of NR floats.
func (g *gemmOp) packPanelBTHalf(d, stage []float32, j, p0, kc int) {
	nr := min(g.nr, g.n-j)
	for c := range nr {
		g.loadB(stage[c*kc:(c+1)*kc], (j+c)*g.ldb+p0)
	}
	if nr == g.nr {
		g.packBT(d, stage, kc, kc)
		return
	}
	d = d[:kc*g.nr]
	clear(d)
	for c := range nr {
		for p, v := range stage[c*kc : (c+1)*kc] {
			d[p*g.nr+c] = v
		}
	}
}

// GemmHalfKernel names the micro-kernel GemmHalf runs for half type t on
// this CPU: "avx512bf16" (VDPBF16PS, bf16 only), or the float32 kernel's
// name with "+widen" (its packers widen the halves): what a benchmark
// reports beside its figures.
func GemmHalfKernel(t npu.DType) string {
	im, widen := halfImpl(t)
	if widen != nil {
		return im.name + "+widen"
	}
	return im.name
}

// PackedHalfKernel names the micro-kernel GemmPacked runs over a weight
// packed in half type t (PackBHalf): the float32 kernel's version that
// reads t in place ("avx512+fp16"), or the float32 kernel's name where the
// weight was widened as it was packed.
func PackedHalfKernel(t npu.DType) string {
	hk := sgemmImpl.halfF16
	if t == npu.BF16 {
		hk = sgemmImpl.halfBF16
	}
	if hk == nil {
		return sgemmImpl.name
	}
	return sgemmImpl.name + "+" + t.String()
}
