// Package nputest is the conformance suite every npu backend must pass,
// written once and run against each implementation (as testing/fstest.TestFS
// is for file systems):
//
//	func TestConformance(t *testing.T) { nputest.Run(t, cpu.New(0)) }
//
// Run checks every kernel of npu.Device: forward results against
// straightforward float64 references written here (never against another
// backend), every backward against its float64 analytic reference and that
// reference against central finite differences of the float64 forward, the
// edge cases BLOOM hits (one row or column, KV-cache decode with Tq < Tk,
// left padding, fully masked queries, ignored targets, aliasing, all GEMM
// transposes), half-precision storage, rounding (bit for bit against
// internal/half's scalar conversions) and GEMM for fp16 and bf16, that
// backward kernels add into their gradients, that no kernel writes outside
// its buffers, and that a kernel run twice on the same inputs gives
// bit-identical results. Same checks that several devices — typically
// one backend at different thread counts — agree bit for bit; Benchmarks
// times the kernels at BLOOM-like sizes.
//
// Every tolerance is stated where it is used, as a multiple of the float32
// unit roundoff u = 2⁻²⁴ and the magnitude of the terms a result sums.
//
// The suite imports only npu, internal/half (the reference its half
// conversions are checked against) and the standard library.
package nputest
