// Package npu is the device contract: the memory and kernels that BLOOM training
// and inference need, and a registry of backends that implement them.
//
// A Device owns float32 buffers (Buf) and runs kernels on them. Every kernel
// comes with its backward; backward kernels add into their d-prefixed outputs
// (as in llm.c), so gradients accumulate across micro-batches until the caller
// zeroes them. Token ids and targets are small host slices ([]int32) that a
// backend uploads itself when it needs to.
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
// library. The conformance suite every backend must pass is npu/nputest.
package npu
