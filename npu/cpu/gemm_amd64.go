package cpu

// The amd64 micro-kernel and the transposing B packer are AVX2/FMA assembly
// (gemm_amd64.s); they are used only when CPUID reports AVX2 and FMA and the
// OS saves the ymm registers. Otherwise the portable Go versions run.

func init() {
	if hasAVX2FMA() {
		sgemmKernel = sgemmKernelAVX2
		sgemmPackBT = packBTAVX2
	}
}

// sgemmKernelAVX2 is the gemmKernel in assembly.
func sgemmKernelAVX2(kc int, a []float32, rsa, csa int, b []float32, ldb int, c []float32, ldc int, alpha, beta float32) {
	_ = a[(gemmMR-1)*rsa+(kc-1)*csa]
	_ = b[(kc-1)*ldb+gemmNR-1]
	_ = c[(gemmMR-1)*ldc+gemmNR-1]
	sgemmKernel6x16(kc, &a[0], rsa, csa, &b[0], ldb, &c[0], ldc, alpha, beta)
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

// sgemmKernel6x16 computes a 6×16 tile of C = alpha·A·B + beta·C, where
// A[i][p] = a[i·rsa + p·csa], B[p][j] = b[p·ldb + j] and C[i][j] = c[i·ldc + j];
// k >= 1; beta == 0 does not read C.
//
//go:noescape
func sgemmKernel6x16(k int, a *float32, rsa, csa int, b *float32, ldb int, c *float32, ldc int, alpha, beta float32)

// packBT16 transposes 16 rows of b (stride ldb) by 8·k8 columns into d, which
// gets 8·k8 rows of 16 floats.
//
//go:noescape
func packBT16(d, b *float32, ldb, k8 int)

// cpuid executes CPUID with EAX=eaxArg and ECX=ecxArg.
func cpuid(eaxArg, ecxArg uint32) (eax, ebx, ecx, edx uint32)

// xgetbv reads the extended control register XCR0.
func xgetbv() (eax, edx uint32)
