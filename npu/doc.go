// Package npu is the device contract: the memory and kernels that BLOOM training
// and inference need, and a registry of backends that implement them.
//
// A Device owns float32 buffers (Buf) and runs kernels on them. Every kernel
// comes with its backward; backward kernels add into their d-prefixed outputs
// (as in llm.c), so gradients accumulate across micro-batches until the caller
// zeroes them. Token ids and targets are small host slices ([]int32) that a
// backend uploads itself when it needs to.
//
// Half precision (Half) adds buffers of 16-bit values (HalfBuf, of DType
// F16 or BF16, the formats of internal/half) and the few operations mixed
// precision needs; everything else stays float32. Their precision:
//
//	WriteHalf, ReadHalf  bits moved unchanged
//	ToHalf               one rounding to nearest, ties to even, as half.F32ToF16
//	                     and half.F32ToBF16: fp16 overflows to ±Inf from 65520,
//	                     subnormals are kept, ±0 keep their sign, a NaN stays a
//	                     NaN (its payload is the backend's)
//	FromHalf             exact (a NaN stays a NaN)
//	GemmHalf             products exact, sums rounded in float32: the error of
//	                     a float32 Gemm of the widened inputs, k·u·Σ|a·b| to
//	                     first order (u = 2⁻²⁴)
//
// A GemmHalf product is exact because it fits a float32 significand: two
// 11-bit fp16 significands multiply to at most 22 bits, two 8-bit bf16 ones
// to 16, and float32 holds 24 (fp16 products, 2⁻⁴⁸ to 2³², are inside
// float32's normal range; bf16 products can leave it only as float32
// products do). So a backend may widen A and B to float32 and run its
// float32 GEMM, or multiply halves in hardware with float32 accumulation (as
// Ascend's cube unit does): both round only the sums.
//
// Layouts are row-major. Shape comments such as (B,T,C) name the dimensions from
// outermost to innermost.
//
// Backends: npu/cpu (pure Go, the reference every other backend is checked
// against) and npu/acl (Ascend through cgo, build tag ascend). A backend
// registers itself in init; callers pick one by name:
//
//	dev, err := npu.Open("cpu", npu.Options{Threads: 2})
//	x := dev.Alloc(1024)
//
// This package imports nothing of the project and nothing outside the standard
// library (internal/half, which defines the half formats, is allowed). The
// conformance suite every backend must pass is npu/nputest.
package npu
