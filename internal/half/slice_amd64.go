//go:build !purego

package half

import "bloom/internal/cpuid"

// kernels lists the kernel sets this CPU can run, slowest first; it always
// starts with the scalar set, and the tests run every one of them.
var kernels = detect()

// detect reads CPUID and XCR0 once: F16C with the OS saving the ymm state
// gives the 256-bit binary16 kernels, AVX2 the 256-bit bfloat16 ones, and
// AVX-512F with the OS saving the zmm and mask state the 512-bit forms of
// both.
func detect() []kernelSet {
	sets := []kernelSet{scalarSet}
	x := cpuid.X86
	ymm := scalarSet
	if x.F16C {
		ymm.name = "f16c"
		ymm.fromF16, ymm.toF16, ymm.roundF16 = fromF16F16C, toF16F16C, roundF16F16C
	}
	if x.AVX2 {
		ymm.name = join(ymm.name, "avx2")
		ymm.fromBF16, ymm.toBF16, ymm.roundBF16 = fromBF16AVX2, toBF16AVX2, roundBF16AVX2
	}
	if ymm.name != scalarSet.name {
		sets = append(sets, ymm)
	}
	if x.AVX512F && x.F16C {
		sets = append(sets, kernelSet{name: "avx512f", fromF16: fromF16AVX512, toF16: toF16AVX512,
			fromBF16: fromBF16AVX512, toBF16: toBF16AVX512, roundF16: ymm.roundF16, roundBF16: ymm.roundBF16})
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
		_ = dst[n-1] // the assembly writes n values
		fromF16F16CAsm(&dst[0], &src[0], n)
	}
	return n
}

func toF16F16C(dst []uint16, src []float32) int {
	n := len(src) &^ 7
	if n > 0 {
		_ = dst[n-1] // the assembly writes n values
		toF16F16CAsm(&dst[0], &src[0], n)
	}
	return n
}

func fromBF16AVX2(dst []float32, src []uint16) int {
	n := len(src) &^ 7
	if n > 0 {
		_ = dst[n-1] // the assembly writes n values
		fromBF16AVX2Asm(&dst[0], &src[0], n)
	}
	return n
}

func toBF16AVX2(dst []uint16, src []float32) int {
	n := len(src) &^ 15
	if n > 0 {
		_ = dst[n-1] // the assembly writes n values
		toBF16AVX2Asm(&dst[0], &src[0], n)
	}
	return n
}

func fromF16AVX512(dst []float32, src []uint16) int {
	n := len(src) &^ 15
	if n > 0 {
		_ = dst[n-1] // the assembly writes n values
		fromF16AVX512Asm(&dst[0], &src[0], n)
	}
	return n
}

func toF16AVX512(dst []uint16, src []float32) int {
	n := len(src) &^ 15
	if n > 0 {
		_ = dst[n-1] // the assembly writes n values
		toF16AVX512Asm(&dst[0], &src[0], n)
	}
	return n
}

func fromBF16AVX512(dst []float32, src []uint16) int {
	n := len(src) &^ 15
	if n > 0 {
		_ = dst[n-1] // the assembly writes n values
		fromBF16AVX512Asm(&dst[0], &src[0], n)
	}
	return n
}

func toBF16AVX512(dst []uint16, src []float32) int {
	n := len(src) &^ 15
	if n > 0 {
		_ = dst[n-1] // the assembly writes n values
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

func roundF16F16C(dst, src []float32) int {
	n := len(src) &^ 7
	if n > 0 {
		_ = dst[n-1] // the assembly writes n values
		roundF16F16CAsm(&dst[0], &src[0], n)
	}
	return n
}

func roundBF16AVX2(dst, src []float32) int {
	n := len(src) &^ 7
	if n > 0 {
		_ = dst[n-1] // the assembly writes n values
		roundBF16AVX2Asm(&dst[0], &src[0], n)
	}
	return n
}

//go:noescape
func roundF16F16CAsm(dst, src *float32, n int)

//go:noescape
func roundBF16AVX2Asm(dst, src *float32, n int)
