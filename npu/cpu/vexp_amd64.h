// The float32 exponential shared by expSumAVX2 (vexp_amd64.s) and the GELU
// kernels (gelu_amd64.s): one instruction sequence, so that both give the
// same bits for the same argument. Each file that includes this header gets
// its own copy of the constants.

// Constants of expf (Cephes' single-precision exp): Cody–Waite reduction
// x = k·ln2 + r with ln2 = C1 + C2, then a degree-5 polynomial for e^r on
// |r| ≤ ln2/2 (relative error ≈ 1 ulp of float32).
DATA vexpc<>+0x00(SB)/4, $0x3fb8aa3b // log2(e)
DATA vexpc<>+0x04(SB)/4, $0x3f318000 // C1 = 0.693359375
DATA vexpc<>+0x08(SB)/4, $0xb95e8083 // C2 = -2.12194440e-4
DATA vexpc<>+0x0c(SB)/4, $0x39506967 // p0 = 1.9875691500e-4
DATA vexpc<>+0x10(SB)/4, $0x3ab743ce // p1 = 1.3981999507e-3
DATA vexpc<>+0x14(SB)/4, $0x3c088908 // p2 = 8.3334519073e-3
DATA vexpc<>+0x18(SB)/4, $0x3d2aa9c1 // p3 = 4.1665795894e-2
DATA vexpc<>+0x1c(SB)/4, $0x3e2aaaaa // p4 = 1.6666665459e-1
DATA vexpc<>+0x20(SB)/4, $0x3f000000 // p5 = 0.5
DATA vexpc<>+0x24(SB)/4, $0x3f800000 // 1
DATA vexpc<>+0x28(SB)/4, $0x42b17218 // hi = 88.7228
DATA vexpc<>+0x2c(SB)/4, $0xc2aeac50 // lo = -87.3365: below, the result is 0
DATA vexpc<>+0x30(SB)/4, $0x0000007f // exponent bias 127
GLOBL vexpc<>(SB), RODATA|NOPTR, $52

// VEXP_CONSTS loads the constants VEXP8 reads from registers: Y14 log2(e),
// Y13 C1, Y12 C2, Y11 hi, Y10 lo, Y9 1.0 and Y8 the exponent bias 127.
#define VEXP_CONSTS \
	VBROADCASTSS vexpc<>+0x00(SB), Y14; \
	VBROADCASTSS vexpc<>+0x04(SB), Y13; \
	VBROADCASTSS vexpc<>+0x08(SB), Y12; \
	VBROADCASTSS vexpc<>+0x28(SB), Y11; \
	VBROADCASTSS vexpc<>+0x2c(SB), Y10; \
	VBROADCASTSS vexpc<>+0x24(SB), Y9; \
	VPBROADCASTD vexpc<>+0x30(SB), Y8

// VEXP8(x, k, e, t, keep) sets e = exp(x) in the eight float32 lanes of x,
// with VEXP_CONSTS's registers loaded: x is clamped to [lo, hi], split as
// k·ln2 + r (k = round(x·log2e), r = x − k·C1 − k·C2, in x), and
// e = (p(r)·r² + r + 1)·2^k (the 2^k built in k), then 0 where x < lo or x
// is NaN (the mask in keep). t is scratch; x, k, t and keep are clobbered.
#define VEXP8(x, k, e, t, keep) \
	VCMPPS  $13, Y10, x, keep; \ // keep = x ≥ lo
	VMINPS  Y11, x, x; \
	VMAXPS  Y10, x, x; \
	VMULPS  Y14, x, k; \
	VROUNDPS $0, k, k; \
	VFNMADD231PS Y13, k, x; \ // r = x − k·C1 − k·C2
	VFNMADD231PS Y12, k, x; \
	VBROADCASTSS vexpc<>+0x0c(SB), e; \
	VBROADCASTSS vexpc<>+0x10(SB), t; \
	VFMADD213PS t, x, e; \ // p = p·r + p1, …
	VBROADCASTSS vexpc<>+0x14(SB), t; \
	VFMADD213PS t, x, e; \
	VBROADCASTSS vexpc<>+0x18(SB), t; \
	VFMADD213PS t, x, e; \
	VBROADCASTSS vexpc<>+0x1c(SB), t; \
	VFMADD213PS t, x, e; \
	VBROADCASTSS vexpc<>+0x20(SB), t; \
	VFMADD213PS t, x, e; \
	VMULPS  x, x, t; \ // r²
	VFMADD213PS x, t, e; \ // p·r² + r
	VADDPS  Y9, e, e; \
	VCVTPS2DQ k, k; \ // 2^k
	VPADDD  Y8, k, k; \
	VPSLLD  $23, k, k; \
	VMULPS  k, e, e; \
	VANDPS  keep, e, e
