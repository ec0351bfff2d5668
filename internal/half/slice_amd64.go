package half

// kernels lists the kernel sets this CPU can run, slowest first; it always
// starts with the scalar set, and the tests run every one of them.
var kernels = detect()

// detect reads CPUID and XCR0 once: F16C with the OS saving the ymm state
// gives the 256-bit binary16 kernels, AVX2 the 256-bit bfloat16 ones, and
// AVX-512F with the OS saving the zmm and mask state the 512-bit forms of
// both.
func detect() []kernelSet {
	sets := []kernelSet{scalarSet}
	maxID, _, _, _ := cpuid(0, 0)
	_, _, ecx1, _ := cpuid(1, 0)
	const osxsave, avx, f16c = 1 << 27, 1 << 28, 1 << 29
	if ecx1&(osxsave|avx) != osxsave|avx {
		return sets
	}
	xcr0, _ := xgetbv()
	if xcr0&6 != 6 { // SSE and AVX state
		return sets
	}
	var ebx7 uint32
	if maxID >= 7 {
		_, ebx7, _, _ = cpuid(7, 0)
	}
	const avx2, avx512f = 1 << 5, 1 << 16
	ymm := scalarSet
	if ecx1&f16c != 0 {
		ymm.name = "f16c"
		ymm.fromF16, ymm.toF16 = fromF16F16C, toF16F16C
	}
	if ebx7&avx2 != 0 {
		ymm.name = join(ymm.name, "avx2")
		ymm.fromBF16, ymm.toBF16 = fromBF16AVX2, toBF16AVX2
	}
	if ymm.name != scalarSet.name {
		sets = append(sets, ymm)
	}
	if ebx7&avx512f != 0 && ecx1&f16c != 0 && xcr0&0xe6 == 0xe6 { // + opmask, ZMM_Hi256, Hi16_ZMM
		sets = append(sets, kernelSet{name: "avx512f", fromF16: fromF16AVX512, toF16: toF16AVX512,
			fromBF16: fromBF16AVX512, toBF16: toBF16AVX512})
	}
	return sets
}

func join(a, b string) string {
	if a == scalarSet.name {
		return b
	}
	return a + "+" + b
}

// Each wrapper hands the assembly the largest multiple of its block the
// slices hold and returns that count.

func fromF16F16C(dst []float32, src []uint16) int {
	n := len(src) &^ 7
	if n > 0 {
		fromF16F16CAsm(&dst[0], &src[0], n)
	}
	return n
}

func toF16F16C(dst []uint16, src []float32) int {
	n := len(src) &^ 7
	if n > 0 {
		toF16F16CAsm(&dst[0], &src[0], n)
	}
	return n
}

func fromBF16AVX2(dst []float32, src []uint16) int {
	n := len(src) &^ 7
	if n > 0 {
		fromBF16AVX2Asm(&dst[0], &src[0], n)
	}
	return n
}

func toBF16AVX2(dst []uint16, src []float32) int {
	n := len(src) &^ 15
	if n > 0 {
		toBF16AVX2Asm(&dst[0], &src[0], n)
	}
	return n
}

func fromF16AVX512(dst []float32, src []uint16) int {
	n := len(src) &^ 15
	if n > 0 {
		fromF16AVX512Asm(&dst[0], &src[0], n)
	}
	return n
}

func toF16AVX512(dst []uint16, src []float32) int {
	n := len(src) &^ 15
	if n > 0 {
		toF16AVX512Asm(&dst[0], &src[0], n)
	}
	return n
}

func fromBF16AVX512(dst []float32, src []uint16) int {
	n := len(src) &^ 15
	if n > 0 {
		fromBF16AVX512Asm(&dst[0], &src[0], n)
	}
	return n
}

func toBF16AVX512(dst []uint16, src []float32) int {
	n := len(src) &^ 15
	if n > 0 {
		toBF16AVX512Asm(&dst[0], &src[0], n)
	}
	return n
}

// The kernels convert n elements, n a positive multiple of the block (8 for
// fromF16F16CAsm, toF16F16CAsm and fromBF16AVX2Asm, 16 for the others).

//go:noescape
func fromF16F16CAsm(dst *float32, src *uint16, n int)

//go:noescape
func toF16F16CAsm(dst *uint16, src *float32, n int)

//go:noescape
func fromBF16AVX2Asm(dst *float32, src *uint16, n int)

//go:noescape
func toBF16AVX2Asm(dst *uint16, src *float32, n int)

//go:noescape
func fromF16AVX512Asm(dst *float32, src *uint16, n int)

//go:noescape
func toF16AVX512Asm(dst *uint16, src *float32, n int)

//go:noescape
func fromBF16AVX512Asm(dst *float32, src *uint16, n int)

//go:noescape
func toBF16AVX512Asm(dst *uint16, src *float32, n int)

// cpuid executes CPUID with EAX=eaxArg and ECX=ecxArg.
func cpuid(eaxArg, ecxArg uint32) (eax, ebx, ecx, edx uint32)

// xgetbv reads the extended control register XCR0.
func xgetbv() (eax, edx uint32)
