//go:build !purego

#include "textflag.h"
#include "gemm_prefetch_amd64.h"

// Row kernels for the edge tiles of the 14×32 AVX-512 kernel
// (gemm_avx512_amd64.s): R = 1, 2 or 4 rows of alpha·A·B, 32 columns, with
// each value's arithmetic exactly the 14-row kernel's (an FMA chain over k
// in order from zero, then one multiply by alpha), so an edge tile of a few
// rows costs a few rows' work and gives the bits the padded 14-row tile
// gave. A is k-major (A[i][p] at a + i + p·csa), B's rows ldb apart, C's
// rows ldc apart; k >= 1; C is overwritten.

#define KSTEPR4 \
	PREFETCHT0 (DX); \
	PREFETCHT0 64(DX); \
	VMOVUPS (BX), Z28; \
	VMOVUPS 64(BX), Z29; \
	VBROADCASTSS 0(AX), Z30; \
	VFMADD231PS Z28, Z30, Z0; \
	VFMADD231PS Z29, Z30, Z1; \
	VBROADCASTSS 4(AX), Z31; \
	VFMADD231PS Z28, Z31, Z2; \
	VFMADD231PS Z29, Z31, Z3; \
	VBROADCASTSS 8(AX), Z30; \
	VFMADD231PS Z28, Z30, Z4; \
	VFMADD231PS Z29, Z30, Z5; \
	VBROADCASTSS 12(AX), Z31; \
	VFMADD231PS Z28, Z31, Z6; \
	VFMADD231PS Z29, Z31, Z7; \
	ADDQ R9, AX; \
	ADDQ R10, DX; \
	ADDQ R10, BX

// func sgemmRows4x32(k int, a *float32, csa int, b *float32, ldb int, c *float32, ldc int, alpha float32)
TEXT ·sgemmRows4x32(SB), NOSPLIT, $0-60
	MOVQ k+0(FP), CX
	MOVQ a+8(FP), AX
	MOVQ csa+16(FP), R9
	SHLQ $2, R9
	MOVQ b+24(FP), BX
	MOVQ ldb+32(FP), R10
	SHLQ $2, R10
	PFSTART
	MOVQ c+40(FP), DI
	MOVQ ldc+48(FP), SI
	SHLQ $2, SI
	VPXORD Z0, Z0, Z0
	VPXORD Z1, Z1, Z1
	VPXORD Z2, Z2, Z2
	VPXORD Z3, Z3, Z3
	VPXORD Z4, Z4, Z4
	VPXORD Z5, Z5, Z5
	VPXORD Z6, Z6, Z6
	VPXORD Z7, Z7, Z7

rows4loop:
	KSTEPR4
	DECQ CX
	JNZ  rows4loop

	VBROADCASTSS alpha+56(FP), Z30
	VMULPS Z30, Z0, Z0
	VMULPS Z30, Z1, Z1
	VMULPS Z30, Z2, Z2
	VMULPS Z30, Z3, Z3
	VMULPS Z30, Z4, Z4
	VMULPS Z30, Z5, Z5
	VMULPS Z30, Z6, Z6
	VMULPS Z30, Z7, Z7
	VMOVUPS Z0, (DI)
	VMOVUPS Z1, 64(DI)
	ADDQ SI, DI
	VMOVUPS Z2, (DI)
	VMOVUPS Z3, 64(DI)
	ADDQ SI, DI
	VMOVUPS Z4, (DI)
	VMOVUPS Z5, 64(DI)
	ADDQ SI, DI
	VMOVUPS Z6, (DI)
	VMOVUPS Z7, 64(DI)
	VZEROUPPER
	RET

#define KSTEPR2 \
	PREFETCHT0 (DX); \
	PREFETCHT0 64(DX); \
	VMOVUPS (BX), Z28; \
	VMOVUPS 64(BX), Z29; \
	VBROADCASTSS 0(AX), Z30; \
	VFMADD231PS Z28, Z30, Z0; \
	VFMADD231PS Z29, Z30, Z1; \
	VBROADCASTSS 4(AX), Z31; \
	VFMADD231PS Z28, Z31, Z2; \
	VFMADD231PS Z29, Z31, Z3; \
	ADDQ R9, AX; \
	ADDQ R10, DX; \
	ADDQ R10, BX

// func sgemmRows2x32(k int, a *float32, csa int, b *float32, ldb int, c *float32, ldc int, alpha float32)
TEXT ·sgemmRows2x32(SB), NOSPLIT, $0-60
	MOVQ k+0(FP), CX
	MOVQ a+8(FP), AX
	MOVQ csa+16(FP), R9
	SHLQ $2, R9
	MOVQ b+24(FP), BX
	MOVQ ldb+32(FP), R10
	SHLQ $2, R10
	PFSTART
	MOVQ c+40(FP), DI
	MOVQ ldc+48(FP), SI
	SHLQ $2, SI
	VPXORD Z0, Z0, Z0
	VPXORD Z1, Z1, Z1
	VPXORD Z2, Z2, Z2
	VPXORD Z3, Z3, Z3

rows2loop:
	KSTEPR2
	DECQ CX
	JNZ  rows2loop

	VBROADCASTSS alpha+56(FP), Z30
	VMULPS Z30, Z0, Z0
	VMULPS Z30, Z1, Z1
	VMULPS Z30, Z2, Z2
	VMULPS Z30, Z3, Z3
	VMOVUPS Z0, (DI)
	VMOVUPS Z1, 64(DI)
	ADDQ SI, DI
	VMOVUPS Z2, (DI)
	VMOVUPS Z3, 64(DI)
	VZEROUPPER
	RET

#define KSTEPR1 \
	PREFETCHT0 (DX); \
	PREFETCHT0 64(DX); \
	VMOVUPS (BX), Z28; \
	VMOVUPS 64(BX), Z29; \
	VBROADCASTSS 0(AX), Z30; \
	VFMADD231PS Z28, Z30, Z0; \
	VFMADD231PS Z29, Z30, Z1; \
	ADDQ R9, AX; \
	ADDQ R10, DX; \
	ADDQ R10, BX

// func sgemmRows1x32(k int, a *float32, csa int, b *float32, ldb int, c *float32, ldc int, alpha float32)
TEXT ·sgemmRows1x32(SB), NOSPLIT, $0-60
	MOVQ k+0(FP), CX
	MOVQ a+8(FP), AX
	MOVQ csa+16(FP), R9
	SHLQ $2, R9
	MOVQ b+24(FP), BX
	MOVQ ldb+32(FP), R10
	SHLQ $2, R10
	PFSTART
	MOVQ c+40(FP), DI
	MOVQ ldc+48(FP), SI
	SHLQ $2, SI
	VPXORD Z0, Z0, Z0
	VPXORD Z1, Z1, Z1

rows1loop:
	KSTEPR1
	DECQ CX
	JNZ  rows1loop

	VBROADCASTSS alpha+56(FP), Z30
	VMULPS Z30, Z0, Z0
	VMULPS Z30, Z1, Z1
	VMOVUPS Z0, (DI)
	VMOVUPS Z1, 64(DI)
	VZEROUPPER
	RET

// KSTEPR2W is KSTEPR2 over two panels of B at once (BX and BX+R11): eight
// accumulators, twice the independent FMA chains of KSTEPR2, whose four
// leave the FMA units waiting on their latency.
#define KSTEPR2W \
	PREFETCHT0 (DX); \
	PREFETCHT0 64(DX); \
	PREFETCHT0 (DX)(R11*1); \
	PREFETCHT0 64(DX)(R11*1); \
	VMOVUPS (BX), Z28; \
	VMOVUPS 64(BX), Z29; \
	VMOVUPS (BX)(R11*1), Z26; \
	VMOVUPS 64(BX)(R11*1), Z27; \
	VBROADCASTSS 0(AX), Z30; \
	VFMADD231PS Z28, Z30, Z0; \
	VFMADD231PS Z29, Z30, Z1; \
	VFMADD231PS Z26, Z30, Z4; \
	VFMADD231PS Z27, Z30, Z5; \
	VBROADCASTSS 4(AX), Z31; \
	VFMADD231PS Z28, Z31, Z2; \
	VFMADD231PS Z29, Z31, Z3; \
	VFMADD231PS Z26, Z31, Z6; \
	VFMADD231PS Z27, Z31, Z7; \
	ADDQ R9, AX; \
	ADDQ R10, DX; \
	ADDQ R10, BX

// func sgemmRows2x64(k int, a *float32, csa int, b *float32, ldb, panel int, c *float32, ldc int, alpha float32)
//
// sgemmRows2x32 for two panels of B, the second panel floats past the first
// (same ldb): the 2 rows' 64 columns, the first panel's 32 then the second's,
// in each row of c.
TEXT ·sgemmRows2x64(SB), NOSPLIT, $0-68
	MOVQ k+0(FP), CX
	MOVQ a+8(FP), AX
	MOVQ csa+16(FP), R9
	SHLQ $2, R9
	MOVQ b+24(FP), BX
	MOVQ ldb+32(FP), R10
	SHLQ $2, R10
	MOVQ panel+40(FP), R11
	SHLQ $2, R11
	PFSTART
	MOVQ c+48(FP), DI
	MOVQ ldc+56(FP), SI
	SHLQ $2, SI
	VPXORD Z0, Z0, Z0
	VPXORD Z1, Z1, Z1
	VPXORD Z2, Z2, Z2
	VPXORD Z3, Z3, Z3
	VPXORD Z4, Z4, Z4
	VPXORD Z5, Z5, Z5
	VPXORD Z6, Z6, Z6
	VPXORD Z7, Z7, Z7

rows2wloop:
	KSTEPR2W
	DECQ CX
	JNZ  rows2wloop

	VBROADCASTSS alpha+64(FP), Z30
	VMULPS Z30, Z0, Z0
	VMULPS Z30, Z1, Z1
	VMULPS Z30, Z2, Z2
	VMULPS Z30, Z3, Z3
	VMULPS Z30, Z4, Z4
	VMULPS Z30, Z5, Z5
	VMULPS Z30, Z6, Z6
	VMULPS Z30, Z7, Z7
	VMOVUPS Z0, (DI)
	VMOVUPS Z1, 64(DI)
	VMOVUPS Z4, 128(DI)
	VMOVUPS Z5, 192(DI)
	ADDQ SI, DI
	VMOVUPS Z2, (DI)
	VMOVUPS Z3, 64(DI)
	VMOVUPS Z6, 128(DI)
	VMOVUPS Z7, 192(DI)
	VZEROUPPER
	RET
