package cpu

import (
	"fmt"

	"bloom/internal/half"
	"bloom/npu"
)

// packedB is op(B) (k×n) laid out once as the micro-kernel reads it: panel
// P holds columns [P·NR, P·NR+NR) as k rows of NR floats, zero past n, at
// p[P·NR·k:]. A KC step of any blocking is then rows [pc, pc+kc) of each
// panel, read in place with stride NR: the same values, in the same order,
// that sgemm packs into its scratch per call, so GemmPacked's results are
// bit-identical to Gemm's with the same kernel.
//
// A weight of half values (PackBHalf) keeps its type where the kernel has a
// version that reads it (hk: AVX-512): h then holds the same panels as the
// bits of its values, each widened exactly as the kernel loads it, so the
// arithmetic runs on the values PackB of the widened weight would hold.
type packedB struct {
	k, n int
	im   *gemmImpl // the kernel whose NR the panels have
	p    []float32
	h    []uint16
	hk   *halfKernels // im's kernels for h's type, when h is set
}

// Dims implements npu.PackedB.
func (b *packedB) Dims() (k, n int) { return b.k, b.n }

var _ npu.HalfWeightPacker = (*Device)(nil)

// PackB implements npu.WeightPacker: it copies op(B) into NR-column panels
// for the float32 kernel this CPU runs (KC-independent, so one copy serves
// every blocking and thread count). It costs about one Gemm's packing of B
// and k·n floats of memory, rounded up to NR columns.
func (d *Device) PackB(transB bool, k, n int, b npu.Buf, ldb int) npu.PackedB {
	const op = "PackB"
	dims(op, k, n)
	br, bc := stored(transB, k, n)
	bv := view(op, "b", b, matLen(op, "b", br, bc, ldb))
	return packB(sgemmImpl, transB, k, n, bv, ldb)
}

// packB packs op(B) for kernel im (a float32 one).
func packB(im *gemmImpl, transB bool, k, n int, b []float32, ldb int) *packedB {
	if im.pairs {
		panic("cpu: PackB: a k-pair kernel has no float32 panels")
	}
	panels := ceilDiv(n, im.nr)
	pb := &packedB{k: k, n: n, im: im, p: make([]float32, panels*im.nr*k)}
	if k == 0 || n == 0 {
		return pb
	}
	g := gemmOp{transB: transB, k: k, n: n, b: b, ldb: ldb, gemmImpl: im}
	for P := range panels {
		g.packPanelB(pb.p[P*im.nr*k:], P*im.nr, 0, k)
	}
	return pb
}

// PackBHalf implements npu.HalfWeightPacker: PackB's panels of b's half
// values, kept in their type (k·n 16-bit values, rounded up to NR columns)
// where the kernel reads them in place; else widened once, PackB's panels
// of the widened weight (a kernel that widened a panel at every use ran
// decoding steps slower than float32 panels).
func (d *Device) PackBHalf(transB bool, k, n int, b npu.HalfBuf, ldb int) npu.PackedB {
	const op = "PackBHalf"
	dims(op, k, n)
	br, bc := stored(transB, k, n)
	bv, t := halfView(op, "b", b, matLen(op, "b", br, bc, ldb))
	if t != npu.F16 && t != npu.BF16 {
		panic(fmt.Sprintf("cpu: %s: %v is not a half type", op, t))
	}
	im := sgemmImpl
	widen, hk := half.FromF16, im.halfF16
	if t == npu.BF16 {
		widen, hk = half.FromBF16, im.halfBF16
	}
	if hk == nil {
		w := make([]float32, len(bv))
		widen(w, bv)
		return packB(im, transB, k, n, w, ldb)
	}
	nr := im.nr
	pb := &packedB{k: k, n: n, im: im, h: make([]uint16, ceilDiv(n, nr)*nr*k), hk: hk}
	for j := range n {
		P, c := j/nr, j%nr
		panel := pb.h[P*nr*k:]
		for p := range k {
			if transB {
				panel[p*nr+c] = bv[j*ldb+p]
			} else {
				panel[p*nr+c] = bv[p*ldb+j]
			}
		}
	}
	return pb
}

// GemmPacked implements npu.WeightPacker: Gemm with B packed by PackB (or
// PackBHalf).
func (d *Device) GemmPacked(transA bool, m int, alpha float32, a npu.Buf, lda int, b npu.PackedB, beta float32, c npu.Buf, ldc int) {
	const op = "GemmPacked"
	pb, ok := b.(*packedB)
	if !ok {
		panic(fmt.Sprintf("cpu: %s: a %T was not packed by a cpu device", op, b))
	}
	k, n := pb.k, pb.n
	dims(op, m)
	ar, ac := stored(transA, m, k)
	av := view(op, "a", a, matLen(op, "a", ar, ac, lda))
	cv := view(op, "c", c, matLen(op, "c", m, n, ldc))
	if m == 0 || n == 0 {
		return
	}
	if k == 0 { // no products: C = beta·C, as Gemm
		scaleMatrix(cv, m, n, ldc, beta)
		return
	}
	g := getCall()
	defer g.release()
	g.gemmOp = gemmOp{transA: transA, m: m, n: n, k: k, alpha: alpha,
		a: av, lda: lda, pre: pb.p, preh: pb.h, hk: pb.hk, beta: beta, c: cv, ldc: ldc, gemmImpl: pb.im}
	g.run(d.pool)
}
