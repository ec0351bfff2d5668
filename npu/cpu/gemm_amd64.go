//go:build !purego

package cpu

import "bloom/internal/cpuid"

// The dispatch, in one place: init lists the kernels this CPU can run, best
// first — AVX-512 (gemmAVX512, 14×32 tile), then AVX2/FMA (gemmAVX2, 6×16),
// then the portable Go kernel — and sgemm uses the first. A kernel is listed
// only when CPUID reports its instructions and XGETBV shows the OS saves the
// registers it uses. GemmHalf on bf16 runs the VDPBF16PS kernel
// (gemmBF16AVX512) where the CPU has AVX512_BF16, else the float32 kernel.
// Weights packed in a half type (PackBHalf) are read in place by the
// kernels' fp16 versions (VCVTPH2PS; AVX2 with F16C) and bf16 versions
// (VPMOVZXWD and a shift; AVX-512 with AVX-512BW), else widened as they
// are packed.

func init() {
	if hasAVX2FMA() {
		gemmAVX2.halfBF16 = halfKernelsAVX2(hgemmKernel6x16BF16, hgemmRows4x16BF16, hgemmRows2x16BF16, hgemmRows1x16BF16)
		if cpuid.X86.F16C {
			gemmAVX2.halfF16 = halfKernelsAVX2(hgemmKernel6x16F16, hgemmRows4x16F16, hgemmRows2x16F16, hgemmRows1x16F16)
		}
	}
	if hasAVX512F() {
		gemmAVX512.halfF16 = halfKernelsAVX512(hgemmKernel14x32F16, hgemmRows4x32F16, hgemmRows2x32F16, hgemmRows1x32F16, hgemmRows8x32F16, hgemmRows12x32F16)
		if cpuid.X86.AVX512BW {
			gemmAVX512.halfBF16 = halfKernelsAVX512(hgemmKernel14x32BF16, hgemmRows4x32BF16, hgemmRows2x32BF16, hgemmRows1x32BF16, hgemmRows8x32BF16, hgemmRows12x32BF16)
		}
	}
	gemmImpls = gemmImplsFor(hasAVX512F(), hasAVX2FMA())
	sgemmImpl = gemmImpls[0]
	bgemmImpl = bgemmImplFor(cpuid.X86)
}

// bgemmImplFor is the bf16 kernel of a CPU with features f: the VDPBF16PS
// kernel with AVX512_BF16 (and what the AVX-512 float32 kernel needs), else
// nil, and bf16 widens to the float32 kernel.
func bgemmImplFor(f cpuid.Features) *gemmImpl {
	if f.AVX512BF16 && f.AVX512F && f.AVX2 && f.FMA {
		return gemmBF16AVX512
	}
	return nil
}

// gemmBF16AVX512 is the 14×32 VDPBF16PS kernel (sbgemmKernel14x32) on
// k-pair panels: a pair step of B is 32 slots, as a k step of the float32
// kernel, so KC = 512 values keeps the B panel at 32 KiB in L1 and the MC×KC
// block of A at 336 KiB in L2. UNTESTED on real hardware (see
// gemm_bf16_amd64.s).
var gemmBF16AVX512 = &gemmImpl{
	name: "avx512bf16", mr: 14, nr: 32, kc: 512, mc: 14 * 24, nc: 1024, kmajorA: true, pairs: true,
	kern: sbgemmKernelAVX512,
}

// sbgemmKernelAVX512 is the gemmKernel of gemmBF16AVX512: kc is the depth
// in pairs, and A and B are packed (rsa == 1, csa == 14, ldb == 32).
func sbgemmKernelAVX512(tiles, kd int, a []float32, rsa, csa, tsa int, b []float32, ldb int, c []float32, ldc int, alpha, beta float32) {
	if rsa != 1 || csa != 14 || ldb != 32 {
		panic("cpu: sbgemmKernelAVX512: A and B must be packed in k-pairs")
	}
	_ = a[(tiles-1)*tsa+kd*14-1]
	_ = b[kd*32-1]
	_ = c[(tiles*14-1)*ldc+32-1]
	sbgemmKernel14x32(tiles, kd, &a[0], tsa, &b[0], &c[0], ldc, alpha, beta)
}

// gemmImplsFor lists the kernels a CPU with the given features runs, best
// first.
func gemmImplsFor(avx512, avx2 bool) []*gemmImpl {
	var l []*gemmImpl
	if avx512 {
		l = append(l, gemmAVX512)
	}
	if avx2 {
		l = append(l, gemmAVX2)
	}
	return append(l, gemmGo)
}

// gemmAVX2 is the 6×16 AVX2/FMA kernel (sgemmKernel6x16) with the portable
// kernel's tile and blocking: a KC×16 panel of B is 16 KiB, in L1 beside
// MR×KC panels of A; an MC×KC block of A is 144 KiB, in L2; the m×NC block of
// C, 8 MiB for m = 2048, stays in L3 (NC = 4096 went to DRAM).
var gemmAVX2 = &gemmImpl{
	name: "avx2", mr: gemmMR, nr: gemmNR, kc: 256, mc: 144, nc: 1024,
	kern: sgemmKernelAVX2, rows: sgemmRowsAVX2, packAN: packA6AVX2, packAT: packATAVX2, packBT: packBTAVX2,
}

// gemmAVX512 is the 14×32 AVX-512 kernel (sgemmKernel14x32). Its tile fills
// the 32 zmm registers: 28 accumulators, two for the row of B and two for
// broadcasts of A. Two FMA ports with a latency of 4 need at least 8
// independent accumulators; 28 leave the loads (2 of B, 14 broadcasts per 28
// FMAs) well under the two load ports. KC = 512: the KC×32 panel of B (64
// KiB) streams through the 48 KiB L1 in order, which the prefetchers keep
// up with, and C is read and written half as often as with KC = 256. On
// the make-bench shapes on an AVX-512 Xeon (best of 4-6 runs, twice) that
// measured -4% to +16% at one thread (faster in 7 of 8) and -7% to +21% at
// two (faster in 5 of 8).
// MC×KC of A (336×512, 672 KiB) sits in the 1.25 MiB L2.
var gemmAVX512 = &gemmImpl{
	name: "avx512", mr: 14, nr: 32, kc: 512, mc: 14 * 24, nc: 1024, kmajorA: true,
	kern: sgemmKernelAVX512, rows: sgemmRowsAVX512, rows2pair: sgemmRows2PairAVX512, once: sgemmOnceAVX512, packOnce: packOnceAVX2,
	packAN: packA14AVX2, packAT: packAT14AVX512, packBT: packBT32AVX2,
}

// sgemmKernelAVX2 is the gemmKernel in assembly.
func sgemmKernelAVX2(tiles, kc int, a []float32, rsa, csa, tsa int, b []float32, ldb int, c []float32, ldc int, alpha, beta float32) {
	kernelAVX2(tiles, kc, a, rsa, csa, tsa, b, ldb, c, ldc, alpha, beta, sgemmKernel6x16)
}

// kernel6 is the 6×16 kernel over B of type T (gemm_kernel6_amd64.h).
type kernel6[T float32 | uint16] func(tiles, k int, a *float32, rsa, csa, tsa int, b *T, ldb int, c *float32, ldc int, alpha, beta float32)

// kernelAVX2 runs k after checking the slices hold what it reads and
// writes.
func kernelAVX2[T float32 | uint16](tiles, kc int, a []float32, rsa, csa, tsa int, b []T, ldb int, c []float32, ldc int, alpha, beta float32, k kernel6[T]) {
	_ = a[(tiles-1)*tsa+(gemmMR-1)*rsa+(kc-1)*csa]
	_ = b[(kc-1)*ldb+gemmNR-1]
	_ = c[(tiles*gemmMR-1)*ldc+gemmNR-1]
	k(tiles, kc, &a[0], rsa, csa, tsa, &b[0], ldb, &c[0], ldc, alpha, beta)
}

// packBTAVX2 is packBTGo with the 8-column blocks transposed in assembly.
func packBTAVX2(d, b []float32, ldb, kc int) {
	k8 := kc &^ 7
	if k8 > 0 {
		_ = d[k8*gemmNR-1]
		_ = b[(gemmNR-1)*ldb+k8-1]
		packBT16(&d[0], &b[0], ldb, k8/8)
	}
	if k8 < kc {
		packBTGo(d[k8*gemmNR:], b[k8:], ldb, kc-k8)
	}
}

// packA6AVX2 is packA6Go with the 8-column blocks transposed in assembly.
// d needs gemmPackSlack floats past the 6·kc it fills.
func packA6AVX2(d, a []float32, lda, kc int) {
	k8 := kc &^ 7
	if k8 > 0 {
		_ = d[k8*gemmMR+gemmPackSlack-1]
		_ = a[(gemmMR-1)*lda+k8-1]
		packA6(&d[0], &a[0], lda, k8/8)
	}
	if k8 < kc {
		packA6Go(d[k8*gemmMR:], a[k8:], lda, kc-k8)
	}
}

// packATAVX2 is packATGo with the 8-row chunks copied in assembly.
func packATAVX2(d, a []float32, lda, kc, tiles int) {
	k8 := kc &^ 7
	if k8 > 0 {
		_ = d[(tiles-1)*kc*gemmMR+k8*gemmMR-1]
		_ = a[(k8-1)*lda+tiles*gemmMR-1]
		packAT6(&d[0], &a[0], lda, k8/8, tiles, kc*gemmMR)
	}
	if k8 < kc {
		packATRows(d[k8*gemmMR:], a[k8*lda:], lda, kc-k8, tiles, kc)
	}
}

// sgemmKernelAVX512 is the gemmKernel of gemmAVX512; it takes rsa == 1 only
// (kmajorA).
func sgemmKernelAVX512(tiles, kc int, a []float32, rsa, csa, tsa int, b []float32, ldb int, c []float32, ldc int, alpha, beta float32) {
	kernelAVX512(tiles, kc, a, rsa, csa, tsa, b, ldb, c, ldc, alpha, beta, sgemmKernel14x32)
}

// kernel14 is the 14×32 kernel over B of type T (gemm_kernel14_amd64.h).
type kernel14[T float32 | uint16] func(tiles, k int, a *float32, csa, tsa int, b *T, ldb int, c *float32, ldc int, alpha, beta float32)

// kernelAVX512 runs k after checking that A is k-major and the slices hold
// what it reads and writes.
func kernelAVX512[T float32 | uint16](tiles, kc int, a []float32, rsa, csa, tsa int, b []T, ldb int, c []float32, ldc int, alpha, beta float32, k kernel14[T]) {
	if rsa != 1 {
		panic("cpu: the AVX-512 kernel: A must be k-major")
	}
	_ = a[(tiles-1)*tsa+14-1+(kc-1)*csa]
	_ = b[(kc-1)*ldb+32-1]
	_ = c[(tiles*14-1)*ldc+32-1]
	k(tiles, kc, &a[0], csa, tsa, &b[0], ldb, &c[0], ldc, alpha, beta)
}

// halfKernelsAVX2 are the 6×16 kernel and its edge rows for B of one half
// type (kern6 and rows4, rows2, rows1 of that type).
func halfKernelsAVX2(kern6 kernel6[uint16], rows4, rows2, rows1 rowsKernel[uint16]) *halfKernels {
	return &halfKernels{
		kern: func(tiles, kc int, a []float32, rsa, csa, tsa int, b []uint16, ldb int, c []float32, ldc int, alpha, beta float32) {
			kernelAVX2(tiles, kc, a, rsa, csa, tsa, b, ldb, c, ldc, alpha, beta, kern6)
		},
		rows: func(n, kc int, a []float32, csa int, b []uint16, ldb int, c []float32, ldc int, alpha float32) {
			rowsIn(16, n, kc, a, csa, b, ldb, c, ldc, alpha, rows4, rows2, rows1)
		},
	}
}

// halfKernelsAVX512 are the 14×32 kernel, its edge rows and its one-pass
// rows for B of one half type (kern14; rows4, rows2, rows1; once8, once12
// of that type).
func halfKernelsAVX512(kern14 kernel14[uint16], rows4, rows2, rows1 rowsKernel[uint16], once8, once12 onceKernel[uint16]) *halfKernels {
	return &halfKernels{
		once: func(n, kc int, a []float32, b []uint16, ldb int, c []float32, ldc int, alpha float32) {
			onceAVX512(n, kc, a, b, ldb, c, ldc, alpha, once8, once12)
		},
		kern: func(tiles, kc int, a []float32, rsa, csa, tsa int, b []uint16, ldb int, c []float32, ldc int, alpha, beta float32) {
			kernelAVX512(tiles, kc, a, rsa, csa, tsa, b, ldb, c, ldc, alpha, beta, kern14)
		},
		rows: func(n, kc int, a []float32, csa int, b []uint16, ldb int, c []float32, ldc int, alpha float32) {
			rowsIn(32, n, kc, a, csa, b, ldb, c, ldc, alpha, rows4, rows2, rows1)
		},
	}
}

// packA14AVX2 interleaves 14 rows of a as two 8-row transposes, rows 0-7
// and rows 6-13, which both write rows 6 and 7 with the same values.
func packA14AVX2(d, a []float32, lda, kc int) {
	const mr = 14
	k8 := kc &^ 7
	if k8 > 0 {
		_ = d[k8*mr-1]
		_ = a[(mr-1)*lda+k8-1]
		transpose8(&d[0], &a[0], lda, k8/8, 4*mr)
		transpose8(&d[6], &a[6*lda], lda, k8/8, 4*mr)
	}
	if k8 < kc {
		packRowsGo(d[k8*mr:], a[k8:], lda, kc-k8, mr)
	}
}

// packBT32AVX2 transposes 32 rows of b as four 8-row transposes.
func packBT32AVX2(d, b []float32, ldb, kc int) {
	const nr = 32
	k8 := kc &^ 7
	if k8 > 0 {
		_ = d[k8*nr-1]
		_ = b[(nr-1)*ldb+k8-1]
		for r := 0; r < nr; r += 8 {
			transpose8(&d[r], &b[r*ldb], ldb, k8/8, 4*nr)
		}
	}
	if k8 < kc {
		packRowsGo(d[k8*nr:], b[k8:], ldb, kc-k8, nr)
	}
}

// packAT14AVX512 copies 14-float runs with masked zmm loads and stores.
func packAT14AVX512(d, a []float32, lda, kc, tiles int) {
	const mr = 14
	_ = d[(tiles-1)*kc*mr+kc*mr-1]
	_ = a[(kc-1)*lda+tiles*mr-1]
	packAT14(&d[0], &a[0], lda, kc, tiles, kc*mr)
}

// hasAVX512F: the AVX-512 kernel also needs what the AVX2 one does.
func hasAVX512F() bool { return cpuid.X86.AVX512F && hasAVX2FMA() }

// hasAVX2FMA: the AVX2 kernels use FMA too.
func hasAVX2FMA() bool { return cpuid.X86.AVX2 && cpuid.X86.FMA }

// sgemmKernel6x16 computes tiles 6×16 tiles stacked down C: tile t is
// C = alpha·A·B + beta·C with A[i][p] = a[t·tsa + i·rsa + p·csa],
// B[p][j] = b[p·ldb + j] and C[i][j] = c[(6t+i)·ldc + j]; tiles, k >= 1;
// beta == 0 does not read C.
//
//go:noescape
func sgemmKernel6x16(tiles, k int, a *float32, rsa, csa, tsa int, b *float32, ldb int, c *float32, ldc int, alpha, beta float32)

// hgemmKernel6x16F16 and hgemmKernel6x16BF16 are sgemmKernel6x16 for B of
// fp16 (F16C) and bf16 values (ldb values apart), widened as they are loaded.
//
//go:noescape
func hgemmKernel6x16F16(tiles, k int, a *float32, rsa, csa, tsa int, b *uint16, ldb int, c *float32, ldc int, alpha, beta float32)

//go:noescape
func hgemmKernel6x16BF16(tiles, k int, a *float32, rsa, csa, tsa int, b *uint16, ldb int, c *float32, ldc int, alpha, beta float32)

// packBT16 transposes 16 rows of b (stride ldb) by 8·k8 columns into d, which
// gets 8·k8 rows of 16 floats.
//
//go:noescape
func packBT16(d, b *float32, ldb, k8 int)

// packA6 interleaves six rows of a (stride lda), 8·k8 columns long, into d
// as 8·k8 groups of six floats, writing two floats of junk past the end.
//
//go:noescape
func packA6(d, a *float32, lda, k8 int)

// packAT6 copies, for each of k8 chunks of eight rows of a (stride lda) and
// each of tiles runs of six columns, the 8×6 block to 48 consecutive floats
// of d: tile t of chunk c goes to d[t·dstride + 48c:].
//
//go:noescape
func packAT6(d, a *float32, lda, k8, tiles, dstride int)

// sgemmKernel14x32 is sgemmKernel6x16 for 14×32 tiles with rsa = 1:
// A[i][p] = a[t·tsa + i + p·csa].
//
//go:noescape
func sgemmKernel14x32(tiles, k int, a *float32, csa, tsa int, b *float32, ldb int, c *float32, ldc int, alpha, beta float32)

// hgemmKernel14x32F16 and hgemmKernel14x32BF16 are sgemmKernel14x32 for B
// of fp16 and bf16 values (ldb values apart), widened as they are loaded;
// the bf16 one needs AVX-512BW.
//
//go:noescape
func hgemmKernel14x32F16(tiles, k int, a *float32, csa, tsa int, b *uint16, ldb int, c *float32, ldc int, alpha, beta float32)

//go:noescape
func hgemmKernel14x32BF16(tiles, k int, a *float32, csa, tsa int, b *uint16, ldb int, c *float32, ldc int, alpha, beta float32)

// transpose8 transposes 8 rows of a (stride lda floats) by 8·k8 columns:
// column p, eight floats, goes to d + p·dstride bytes.
//
//go:noescape
func transpose8(d, a *float32, lda, k8, dstride int)

// packAT14 copies, for each of k rows of a (stride lda) and each of tiles
// runs of 14 columns, the run to d + t·dstride + 14p floats.
//
//go:noescape
func packAT14(d, a *float32, lda, k, tiles, dstride int)

// sbgemmKernel14x32 computes tiles 14×32 tiles stacked down C from kd k-pair
// steps of packed bf16 panels (gemm_bf16.go): tile t reads A from
// a + t·tsa slots, 14 a step, B from b, 32 a step, and sets
// C = alpha·A·B + beta·C from c + 14t·ldc; beta == 0 does not read C.
// tiles, kd >= 1.
//
//go:noescape
func sbgemmKernel14x32(tiles, kd int, a *float32, tsa int, b *float32, c *float32, ldc int, alpha, beta float32)
