// Package acl is the Ascend backend of the npu.Device contract: Huawei
// Ascend 910 and 910B (Atlas A2) NPUs driven through AscendCL's runtime and
// aclnn's two-phase operators. It is the only package of the tree that uses
// cgo, and only when built with the tag ascend (make build-acl:
// CGO_ENABLED=1 go build -tags ascend); every other build registers a
// backend "acl" whose opener says how to get the real one.
//
// What it owns. acl.h declares, in plain C, the part of CANN's API the
// backend calls (ACL_FUNCS, an X-macro); loader.c is generated from it: a
// table of function pointers and one trampoline per function, filled by
// dlopen of libascendcl.so, libnnopbase.so and libopapi.so from
// $ASCEND_HOME_PATH/lib64, then $ASCEND_TOOLKIT_HOME/lib64, then the default
// search path (LD_LIBRARY_PATH). So the backend builds without CANN, and a
// missing library or symbol is an error naming what was looked for where.
// aclInit runs once per process.
//
// A Device is one NPU (npu.Options.Index): aclrtSetDevice, a context in
// deterministic mode (ACL_OPT_DETERMINISTIC = 1, so a resumed run repeats
// itself), one stream, and one OS thread that makes every ACL call of the
// device (a goroutine locked to its thread runs the methods' closures in
// turn). Buffers are aclrtMalloc allocations; a Buf is an allocation with an
// element offset and length, and an aclnn tensor describes it with the
// allocation's base as tensorData, the view's offset, and the allocation as
// its storage. Kernels are queued on the stream; host reads and writes
// synchronise it first. Workspaces and temporaries come from a per-device
// pool and return to it at the next synchronisation, when the stream has
// run the operators that used them. Memory a Buf no longer reaches is freed
// the same way after the garbage collector finds it.
//
// The SoC decides three things (aclrtGetSocName): on Ascend 910 the cube
// multiplies in fp16 only, so float32 GEMMs run with cubeMathType
// ALLOW_FP32_DOWN_PRECISION (operands rounded to fp16, float32
// accumulation: relative error 2⁻¹¹ per operand, which nputest.Options
// states) and bf16 is refused (ErrNoBF16); on 910B float32 GEMMs keep
// float32 (KEEP_DTYPE). AdamW is composed from elementwise operators on
// both: the 910 has no fused one, and 910B's aclnnApplyAdamWV2 forms 1 − β2
// in float32, off torch's (see AdamWUpdate).
//
// Errors. The contract's methods return nothing, so a failed ACL or aclnn
// call (an operator that refuses its arguments, device memory exhausted, an
// asynchronous fault that surfaces at a synchronisation) panics with an
// *Error carrying the code, the call and aclGetRecentErrMsg's text. Such an
// error is sticky: every later call on the device panics with it too, since
// the device's state is unknown. A worker recovers the panic and tells it
// apart from a programmer error with errors.Is(err, ErrDevice) (and
// ErrOOM for exhausted memory), then ends; the job restarts as for any
// worker failure. A size that does not fit its buffer is a programmer error
// and panics with a string, as in npu/cpu.
//
// Precision against npu/cpu, the reference: elementwise kernels round as
// the contract says; sums (BiasBackward, softmax, cross-entropy's exp sums)
// accumulate in float32 on the device instead of float64; SumSquares reads
// the buffer back and sums in float64 on the host, as the contract asks.
//
// This package imports only npu and the standard library. Usage:
//
//	dev, err := npu.Open("acl", npu.Options{Index: 3})
//	if err != nil { … } // no CANN, no such device, or built without -tags ascend
//	defer dev.(io.Closer).Close()
package acl
