// Package cpu is the pure-Go device backend: the reference every other
// backend is checked against, and the device that runs everywhere
// (CGO_ENABLED=0). It owns the npu.Device implementation over host memory:
// buffers (Buf, a []float32; Floats exposes one), half buffers (HalfBuf, the
// bits of fp16 or bf16 values; Halves exposes one), the kernels, and the
// thread pool they share.
//
// Kernels split their work across a fixed number of goroutines (every core by
// default) and keep scratch memory between calls, so a training step
// allocates no data-sized memory after the first. Every result is
// bit-identical run after run and whatever the thread count: each output
// value is computed by one goroutine in an order fixed by the sizes alone
// (reductions over rows go column by column, SumSquares adds fixed blocks in
// order, attention owns one (batch, head) pair per task). The GEMM picks its
// micro-kernel once, at start, from what the CPU has: AVX-512 (14×32 tile),
// else AVX2/FMA (6×16), both assembly on amd64, else a portable Go kernel
// (which the purego build tag forces on amd64 too: make test-portable runs
// the conformance suite on it);
// the bits depend on the kernel, not on the thread count. The few rows of a
// decoding step against weights packed once (PackB) run row kernels, 1, 2
// and 4 rows (and, on AVX-512, 8 and 12 in one pass over the weights), that
// give the bits of the tile they stand in for. Attention runs on
// it, one query block at a time. Exponentials and tanh use polynomial
// approximations good to 10⁻¹¹, far below float32's rounding; GELU's
// AVX2 kernels give the bits of its Go loops exactly, so they change no
// result. Half conversions run internal/half's slice converters (F16C and
// AVX-512 where the CPU has them). GemmHalf runs the float32 GEMM with
// packers that widen A and B, exactly, panel by panel as they pack them, so
// its bits are those of Gemm on the widened operands and it holds no
// operand-sized memory;
// except for bf16 on a CPU with AVX512_BF16, where a VDPBF16PS kernel takes
// A and B packed in k-pairs (its sums run in another order, so its bits
// differ from the float32 kernel's: GemmHalf's bits depend on the CPU's
// kind, as Gemm's do). That kernel is UNTESTED on real hardware: no machine
// it was written on has AVX512_BF16. Its packers, its dispatch and a Go
// model of its arithmetic, which it must match bit for bit, are tested
// everywhere, and so are its hand-encoded instructions, read back by GNU
// objdump; the comparison with the model skips, saying so, where the
// instruction is missing.
//
// The backend registers itself as "cpu":
//
//	import _ "bloom/npu/cpu"
//	dev, _ := npu.Open("cpu", npu.Options{Threads: 2})
//
// or, without the registry, dev := cpu.New(2). It imports only npu,
// internal/half, internal/cpuid (the CPU's features) and the standard
// library; the conformance suite it passes
// is npu/nputest.
package cpu
