package cpu

// The amd64 micro-kernel and the two transposing packers are AVX2/FMA
// assembly (gemm_amd64.s); they are used only when CPUID reports AVX2 and FMA
// and the OS saves the ymm registers. Otherwise the portable Go versions run.

func init() {
	if hasAVX2FMA() {
		sgemmKernel = sgemmKernelAVX2
		sgemmPackBT = packBTAVX2
		sgemmPackA6 = packA6AVX2
		sgemmPackAT = packATAVX2
	}
}

// sgemmKernelAVX2 is the gemmKernel in assembly.
func sgemmKernelAVX2(tiles, kc int, a []float32, rsa, csa, tsa int, b []float32, ldb int, c []float32, ldc int, alpha, beta float32) {
	_ = a[(tiles-1)*tsa+(gemmMR-1)*rsa+(kc-1)*csa]
	_ = b[(kc-1)*ldb+gemmNR-1]
	_ = c[(tiles*gemmMR-1)*ldc+gemmNR-1]
	sgemmKernel6x16(tiles, kc, &a[0], rsa, csa, tsa, &b[0], ldb, &c[0], ldc, alpha, beta)
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

// hasAVX2FMA reports whether the CPU has AVX2 and FMA and the OS has enabled
// the ymm state (XCR0 bits 1 and 2).
func hasAVX2FMA() bool {
	maxID, _, _, _ := cpuid(0, 0)
	if maxID < 7 {
		return false
	}
	_, _, ecx1, _ := cpuid(1, 0)
	const fma, osxsave, avx = 1 << 12, 1 << 27, 1 << 28
	if ecx1&(fma|osxsave|avx) != fma|osxsave|avx {
		return false
	}
	if xcr0, _ := xgetbv(); xcr0&6 != 6 {
		return false
	}
	_, ebx7, _, _ := cpuid(7, 0)
	const avx2 = 1 << 5
	return ebx7&avx2 != 0
}

// sgemmKernel6x16 computes tiles 6×16 tiles stacked down C: tile t is
// C = alpha·A·B + beta·C with A[i][p] = a[t·tsa + i·rsa + p·csa],
// B[p][j] = b[p·ldb + j] and C[i][j] = c[(6t+i)·ldc + j]; tiles, k >= 1;
// beta == 0 does not read C.
//
//go:noescape
func sgemmKernel6x16(tiles, k int, a *float32, rsa, csa, tsa int, b *float32, ldb int, c *float32, ldc int, alpha, beta float32)

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

// cpuid executes CPUID with EAX=eaxArg and ECX=ecxArg.
func cpuid(eaxArg, ecxArg uint32) (eax, ebx, ecx, edx uint32)

// xgetbv reads the extended control register XCR0.
func xgetbv() (eax, edx uint32)
