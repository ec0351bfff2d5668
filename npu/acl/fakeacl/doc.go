// Package fakeacl builds a fake of Ascend's ACL libraries for tests: C
// sources (csrc/) that implement exactly the functions of npu/acl's acl.h
// (its ACL_FUNCS list, with the same prototypes, checked by the compiler) as
// libascendcl.so, with libnnopbase.so and libopapi.so as empty libraries
// that depend on it, so that the npu/acl backend's dlopen and dlsym find
// every function where CANN would put it.
//
// The fake is strict where a real device punishes mistakes: device
// addresses fault when the host dereferences them (each device is a memfd
// mapped twice, PROT_NONE for the addresses handed out and read-write for
// the fake's kernels); fresh device memory and workspaces hold NaN; every
// stream runs its tasks on a thread of its own, so a result read without
// aclrtSynchronizeStream is stale; aclnn executors run once and check their
// workspace; tensors are checked against their allocation; the Ascend910A
// mode refuses BF16, ApplyAdamWV2 and fp32 cube math it lacks and computes
// fp32 matmuls in fp16; two operators refuse to run unless the context is
// deterministic; OOM and operator failures can be injected. The operators
// compute what PyTorch's namesakes compute, with sums in double (matmuls in
// float32, in index order). csrc/README.md lists each operator and what it
// checks.
//
// Build compiles the libraries with the system C compiler; Env gives the
// environment a process needs to load and configure them:
//
//	dir := t.TempDir()
//	if err := fakeacl.Build(dir); err != nil { ... }
//	cmd.Env = append(os.Environ(), fakeacl.Env(dir, fakeacl.Options{SoC: fakeacl.Ascend910A})...)
//
// The package is pure Go (no cgo) and imports nothing of the project.
package fakeacl
