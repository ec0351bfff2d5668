//go:build !purego

#include "textflag.h"

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

// func expSumAVX2(y, x *float32, n int, m float32) float64
//
// For i < n (a multiple of 8): e = exp(x[i] − m) in float32; y[i] = e when y
// is not nil; returns Σe accumulated in float64, lanes in a fixed order.
TEXT ·expSumAVX2(SB), NOSPLIT, $0-40
	MOVQ y+0(FP), DI
	MOVQ x+8(FP), SI
	MOVQ n+16(FP), CX
	VBROADCASTSS m+24(FP), Y15
	VBROADCASTSS vexpc<>+0x00(SB), Y14 // log2e
	VBROADCASTSS vexpc<>+0x04(SB), Y13 // C1
	VBROADCASTSS vexpc<>+0x08(SB), Y12 // C2
	VBROADCASTSS vexpc<>+0x28(SB), Y11 // hi
	VBROADCASTSS vexpc<>+0x2c(SB), Y10 // lo
	VBROADCASTSS vexpc<>+0x24(SB), Y9  // 1
	VPBROADCASTD vexpc<>+0x30(SB), Y8  // 127
	VXORPD Y6, Y6, Y6                  // sum of lanes 0–3
	VXORPD Y7, Y7, Y7                  // sum of lanes 4–7
	SHRQ $3, CX
	JZ   done

loop:
	VMOVUPS (SI), Y0
	VSUBPS  Y15, Y0, Y0             // x − m
	VCMPPS  $13, Y10, Y0, Y5        // keep = x ≥ lo
	VMINPS  Y11, Y0, Y0             // clamp to [lo, hi]
	VMAXPS  Y10, Y0, Y0
	VMULPS  Y14, Y0, Y1             // k = round(x·log2e)
	VROUNDPS $0, Y1, Y1
	VFNMADD231PS Y13, Y1, Y0        // r = x − k·C1 − k·C2
	VFNMADD231PS Y12, Y1, Y0
	VBROADCASTSS vexpc<>+0x0c(SB), Y2
	VBROADCASTSS vexpc<>+0x10(SB), Y3
	VFMADD213PS Y3, Y0, Y2          // p = p·r + p1
	VBROADCASTSS vexpc<>+0x14(SB), Y3
	VFMADD213PS Y3, Y0, Y2
	VBROADCASTSS vexpc<>+0x18(SB), Y3
	VFMADD213PS Y3, Y0, Y2
	VBROADCASTSS vexpc<>+0x1c(SB), Y3
	VFMADD213PS Y3, Y0, Y2
	VBROADCASTSS vexpc<>+0x20(SB), Y3
	VFMADD213PS Y3, Y0, Y2
	VMULPS  Y0, Y0, Y3              // r²
	VFMADD213PS Y0, Y3, Y2          // p·r² + r
	VADDPS  Y9, Y2, Y2              // + 1
	VCVTPS2DQ Y1, Y1                // 2^k
	VPADDD  Y8, Y1, Y1
	VPSLLD  $23, Y1, Y1
	VMULPS  Y1, Y2, Y2
	VANDPS  Y5, Y2, Y2              // 0 below lo
	TESTQ   DI, DI
	JZ      nostore
	VMOVUPS Y2, (DI)
	ADDQ    $32, DI

nostore:
	VCVTPS2PD X2, Y3
	VADDPD  Y3, Y6, Y6
	VEXTRACTF128 $1, Y2, X4
	VCVTPS2PD X4, Y4
	VADDPD  Y4, Y7, Y7
	ADDQ    $32, SI
	DECQ    CX
	JNZ     loop

done:
	VADDPD  Y7, Y6, Y6
	VEXTRACTF128 $1, Y6, X7
	VADDPD  X7, X6, X6
	VHADDPD X6, X6, X6
	VZEROUPPER
	MOVSD   X6, ret+32(FP)
	RET
