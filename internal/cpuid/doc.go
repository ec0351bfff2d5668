// Package cpuid says which vector instruction sets this x86-64 CPU has and
// the operating system lets a program use: the one place the project reads
// CPUID and XCR0, so every kernel that picks an instruction set at run time
// (npu/cpu's GEMM, internal/half's converters) asks the same question the
// same way. On other architectures every feature is false.
//
// A feature counts only when the OS saves the registers it needs: the ymm
// state (XCR0 bits 1 and 2) for AVX2, FMA and F16C; the opmask and zmm
// state as well (XCR0 bits 5, 6 and 7) for the AVX-512 sets.
//
// BLOOM_MAX_CPU_ISA=avx2 (or none) takes away the features above it, so
// that the AVX2 (or portable) kernels can be run and measured on a CPU with
// AVX-512; programs check CapErr at start.
//
// It imports nothing of the project; any package may import it.
//
// Usage:
//
//	if cpuid.X86.AVX512F {
//		kernel = kernelAVX512
//	}
//	fmt.Println(cpuid.X86) // "avx2 fma f16c avx512f"
package cpuid
