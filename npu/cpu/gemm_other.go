//go:build !amd64 || purego

package cpu

// Without the amd64 assembly, sgemm keeps the portable micro-kernel and
// packers (gemmGo in gemm.go); the compiler keeps the kernel's accumulators in
// registers and, on arm64, ppc64 and s390x, fuses its multiply-adds.
