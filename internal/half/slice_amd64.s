//go:build !purego

#include "textflag.h"

// Every kernel: dst in DI, src in SI, the element count n in CX, a positive
// multiple of its block. Loads and stores are unaligned. The rounding
// immediate of VCVTPS2PH is 0: round to nearest even, regardless of MXCSR.

// func fromF16F16CAsm(dst *float32, src *uint16, n int)
TEXT ·fromF16F16CAsm(SB), NOSPLIT, $0-24
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX

f16c_from4:
	CMPQ      CX, $32
	JB        f16c_from1
	VCVTPH2PS 0(SI), Y0
	VCVTPH2PS 16(SI), Y1
	VCVTPH2PS 32(SI), Y2
	VCVTPH2PS 48(SI), Y3
	VMOVUPS   Y0, 0(DI)
	VMOVUPS   Y1, 32(DI)
	VMOVUPS   Y2, 64(DI)
	VMOVUPS   Y3, 96(DI)
	ADDQ      $64, SI
	ADDQ      $128, DI
	SUBQ      $32, CX
	JMP       f16c_from4

f16c_from1:
	TESTQ     CX, CX
	JZ        f16c_fromdone
	VCVTPH2PS (SI), Y0
	VMOVUPS   Y0, (DI)
	ADDQ      $16, SI
	ADDQ      $32, DI
	SUBQ      $8, CX
	JMP       f16c_from1

f16c_fromdone:
	VZEROUPPER
	RET

// func toF16F16CAsm(dst *uint16, src *float32, n int)
TEXT ·toF16F16CAsm(SB), NOSPLIT, $0-24
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX

f16c_to4:
	CMPQ      CX, $32
	JB        f16c_to1
	VMOVUPS   0(SI), Y0
	VMOVUPS   32(SI), Y1
	VMOVUPS   64(SI), Y2
	VMOVUPS   96(SI), Y3
	VCVTPS2PH $0, Y0, 0(DI)
	VCVTPS2PH $0, Y1, 16(DI)
	VCVTPS2PH $0, Y2, 32(DI)
	VCVTPS2PH $0, Y3, 48(DI)
	ADDQ      $128, SI
	ADDQ      $64, DI
	SUBQ      $32, CX
	JMP       f16c_to4

f16c_to1:
	TESTQ     CX, CX
	JZ        f16c_todone
	VMOVUPS   (SI), Y0
	VCVTPS2PH $0, Y0, (DI)
	ADDQ      $32, SI
	ADDQ      $16, DI
	SUBQ      $8, CX
	JMP       f16c_to1

f16c_todone:
	VZEROUPPER
	RET

// func fromBF16AVX2Asm(dst *float32, src *uint16, n int)
// A bfloat16 is the top half of a float32: zero-extend, shift left 16.
TEXT ·fromBF16AVX2Asm(SB), NOSPLIT, $0-24
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX

avx2_from4:
	CMPQ      CX, $32
	JB        avx2_from1
	VPMOVZXWD 0(SI), Y0
	VPMOVZXWD 16(SI), Y1
	VPMOVZXWD 32(SI), Y2
	VPMOVZXWD 48(SI), Y3
	VPSLLD    $16, Y0, Y0
	VPSLLD    $16, Y1, Y1
	VPSLLD    $16, Y2, Y2
	VPSLLD    $16, Y3, Y3
	VMOVDQU   Y0, 0(DI)
	VMOVDQU   Y1, 32(DI)
	VMOVDQU   Y2, 64(DI)
	VMOVDQU   Y3, 96(DI)
	ADDQ      $64, SI
	ADDQ      $128, DI
	SUBQ      $32, CX
	JMP       avx2_from4

avx2_from1:
	TESTQ     CX, CX
	JZ        avx2_fromdone
	VPMOVZXWD (SI), Y0
	VPSLLD    $16, Y0, Y0
	VMOVDQU   Y0, (DI)
	ADDQ      $16, SI
	ADDQ      $32, DI
	SUBQ      $8, CX
	JMP       avx2_from1

avx2_fromdone:
	VZEROUPPER
	RET

// BF16RNE rounds the eight float32 bit patterns in x to bfloat16 in the low
// halves of out's dwords: (x + 0x7fff + ((x>>16)&1)) >> 16, or, where
// |x| > 0x7f800000 (a NaN), (x>>16) | 0x40. Constants: Y10 = 1, Y11 =
// 0x7fff, Y12 = 0x7fffffff, Y13 = 0x7f800000, Y14 = 0x40; t and m are
// scratch.
#define BF16RNE(x, out, t, m) \
	VPSRLD    $16, x, t     \
	VPAND     Y10, t, out   \
	VPADDD    Y11, out, out \
	VPADDD    x, out, out   \
	VPSRLD    $16, out, out \
	VPOR      Y14, t, t     \
	VPAND     Y12, x, m     \
	VPCMPGTD  Y13, m, m     \
	VPBLENDVB m, t, out, out

#define BROADCAST(v, reg) \
	MOVL         v, AX  \
	MOVD         AX, X9 \
	VPBROADCASTD X9, reg

// func toBF16AVX2Asm(dst *uint16, src *float32, n int)
TEXT ·toBF16AVX2Asm(SB), NOSPLIT, $0-24
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX
	BROADCAST($1, Y10)
	BROADCAST($0x7fff, Y11)
	BROADCAST($0x7fffffff, Y12)
	BROADCAST($0x7f800000, Y13)
	BROADCAST($0x40, Y14)

avx2_to:
	VMOVDQU 0(SI), Y0
	VMOVDQU 32(SI), Y1
	BF16RNE(Y0, Y2, Y4, Y5)
	BF16RNE(Y1, Y3, Y6, Y7)

	// The dwords hold 0..0xffff, so the unsigned saturating pack is exact;
	// it packs within 128-bit lanes, and VPERMQ puts the quadwords in order.
	VPACKUSDW Y3, Y2, Y2
	VPERMQ    $0xd8, Y2, Y2
	VMOVDQU   Y2, (DI)
	ADDQ      $64, SI
	ADDQ      $32, DI
	SUBQ      $16, CX
	JNZ       avx2_to
	VZEROUPPER
	RET

// func fromF16AVX512Asm(dst *float32, src *uint16, n int)
TEXT ·fromF16AVX512Asm(SB), NOSPLIT, $0-24
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX

z_from4:
	CMPQ      CX, $64
	JB        z_from1
	VCVTPH2PS 0(SI), Z0
	VCVTPH2PS 32(SI), Z1
	VCVTPH2PS 64(SI), Z2
	VCVTPH2PS 96(SI), Z3
	VMOVUPS   Z0, 0(DI)
	VMOVUPS   Z1, 64(DI)
	VMOVUPS   Z2, 128(DI)
	VMOVUPS   Z3, 192(DI)
	ADDQ      $128, SI
	ADDQ      $256, DI
	SUBQ      $64, CX
	JMP       z_from4

z_from1:
	TESTQ     CX, CX
	JZ        z_fromdone
	VCVTPH2PS (SI), Z0
	VMOVUPS   Z0, (DI)
	ADDQ      $32, SI
	ADDQ      $64, DI
	SUBQ      $16, CX
	JMP       z_from1

z_fromdone:
	VZEROUPPER
	RET

// func toF16AVX512Asm(dst *uint16, src *float32, n int)
TEXT ·toF16AVX512Asm(SB), NOSPLIT, $0-24
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX

z_to4:
	CMPQ      CX, $64
	JB        z_to1
	VMOVUPS   0(SI), Z0
	VMOVUPS   64(SI), Z1
	VMOVUPS   128(SI), Z2
	VMOVUPS   192(SI), Z3
	VCVTPS2PH $0, Z0, 0(DI)
	VCVTPS2PH $0, Z1, 32(DI)
	VCVTPS2PH $0, Z2, 64(DI)
	VCVTPS2PH $0, Z3, 96(DI)
	ADDQ      $256, SI
	ADDQ      $128, DI
	SUBQ      $64, CX
	JMP       z_to4

z_to1:
	TESTQ     CX, CX
	JZ        z_todone
	VMOVUPS   (SI), Z0
	VCVTPS2PH $0, Z0, (DI)
	ADDQ      $64, SI
	ADDQ      $32, DI
	SUBQ      $16, CX
	JMP       z_to1

z_todone:
	VZEROUPPER
	RET

// func fromBF16AVX512Asm(dst *float32, src *uint16, n int)
TEXT ·fromBF16AVX512Asm(SB), NOSPLIT, $0-24
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX

zb_from4:
	CMPQ      CX, $64
	JB        zb_from1
	VPMOVZXWD 0(SI), Z0
	VPMOVZXWD 32(SI), Z1
	VPMOVZXWD 64(SI), Z2
	VPMOVZXWD 96(SI), Z3
	VPSLLD    $16, Z0, Z0
	VPSLLD    $16, Z1, Z1
	VPSLLD    $16, Z2, Z2
	VPSLLD    $16, Z3, Z3
	VMOVDQU32 Z0, 0(DI)
	VMOVDQU32 Z1, 64(DI)
	VMOVDQU32 Z2, 128(DI)
	VMOVDQU32 Z3, 192(DI)
	ADDQ      $128, SI
	ADDQ      $256, DI
	SUBQ      $64, CX
	JMP       zb_from4

zb_from1:
	TESTQ     CX, CX
	JZ        zb_fromdone
	VPMOVZXWD (SI), Z0
	VPSLLD    $16, Z0, Z0
	VMOVDQU32 Z0, (DI)
	ADDQ      $32, SI
	ADDQ      $64, DI
	SUBQ      $16, CX
	JMP       zb_from1

zb_fromdone:
	VZEROUPPER
	RET

// BF16RNE512 is BF16RNE on sixteen floats, with the NaN results merged
// under a mask: Z10..Z14 hold the constants, K1 is scratch.
#define BF16RNE512(x, out, t, m) \
	VPSRLD    $16, x, t     \
	VPANDD    Z10, t, out   \
	VPADDD    Z11, out, out \
	VPADDD    x, out, out   \
	VPSRLD    $16, out, out \
	VPORD     Z14, t, t     \
	VPANDD    Z12, x, m     \
	VPCMPGTD  Z13, m, K1    \
	VMOVDQA32 t, K1, out

// func toBF16AVX512Asm(dst *uint16, src *float32, n int)
TEXT ·toBF16AVX512Asm(SB), NOSPLIT, $0-24
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX
	MOVL         $1, AX
	VPBROADCASTD AX, Z10
	MOVL         $0x7fff, AX
	VPBROADCASTD AX, Z11
	MOVL         $0x7fffffff, AX
	VPBROADCASTD AX, Z12
	MOVL         $0x7f800000, AX
	VPBROADCASTD AX, Z13
	MOVL         $0x40, AX
	VPBROADCASTD AX, Z14

zb_to2:
	CMPQ    CX, $32
	JB      zb_to1
	VMOVDQU32 0(SI), Z0
	VMOVDQU32 64(SI), Z1
	BF16RNE512(Z0, Z2, Z4, Z5)
	VPMOVDW Z2, 0(DI)
	BF16RNE512(Z1, Z3, Z6, Z7)
	VPMOVDW Z3, 32(DI)
	ADDQ    $128, SI
	ADDQ    $64, DI
	SUBQ    $32, CX
	JMP     zb_to2

zb_to1:
	TESTQ   CX, CX
	JZ      zb_todone
	VMOVDQU32 (SI), Z0
	BF16RNE512(Z0, Z2, Z4, Z5)
	VPMOVDW Z2, (DI)
	ADDQ    $64, SI
	ADDQ    $32, DI
	SUBQ    $16, CX
	JMP     zb_to1

zb_todone:
	VZEROUPPER
	RET

// func roundBF16AVX2Asm(dst, src *float32, n int)
//
// dst[i] = src[i] rounded to bfloat16 (BF16RNE, as toBF16AVX2Asm) and
// widened back (the bits in the top half), for n > 0 a multiple of 8.
TEXT ·roundBF16AVX2Asm(SB), NOSPLIT, $0-24
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX
	BROADCAST($1, Y10)
	BROADCAST($0x7fff, Y11)
	BROADCAST($0x7fffffff, Y12)
	BROADCAST($0x7f800000, Y13)
	BROADCAST($0x40, Y14)

avx2_round:
	VMOVDQU 0(SI), Y0
	BF16RNE(Y0, Y2, Y4, Y5)
	VPSLLD  $16, Y2, Y2
	VMOVDQU Y2, (DI)
	ADDQ    $32, SI
	ADDQ    $32, DI
	SUBQ    $8, CX
	JNZ     avx2_round
	VZEROUPPER
	RET

// func roundF16F16CAsm(dst, src *float32, n int)
//
// dst[i] = src[i] rounded to binary16 (VCVTPS2PH, as toF16F16CAsm) and
// widened back (VCVTPH2PS), for n > 0 a multiple of 8.
TEXT ·roundF16F16CAsm(SB), NOSPLIT, $0-24
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX

f16c_round:
	VMOVUPS   (SI), Y0
	VCVTPS2PH $0, Y0, X1
	VCVTPH2PS X1, Y1
	VMOVUPS   Y1, (DI)
	ADDQ      $32, SI
	ADDQ      $32, DI
	SUBQ      $8, CX
	JNZ       f16c_round
	VZEROUPPER
	RET
