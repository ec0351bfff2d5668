//go:build !purego

#include "textflag.h"
#include "gemm_prefetch_amd64.h"

// Row kernels for the edge tiles of the 14×32 AVX-512 kernel
// (gemm_avx512_amd64.s): R = 1, 2 or 4 rows of alpha·A·B, 32 columns, with
// each value's arithmetic exactly the 14-row kernel's, so an edge tile of a
// few rows costs a few rows' work and gives the bits the padded 14-row tile
// gave (gemm_rows_amd64.h, here for B of float32, fp16 and bf16 values: a
// decoding step of a few rows reads packed weights in their half type).
// A is k-major (A[i][p] at a + i + p·csa), B's rows ldb apart, C's rows
// ldc apart; k >= 1; C is overwritten.

#define PFB PREFETCHT0 (DX); PREFETCHT0 64(DX)
#define LOADB0(r) VMOVUPS (BX), r
#define LOADB1(r) VMOVUPS 64(BX), r
#define BSHIFT 2
#define ROWS4 ·sgemmRows4x32
#define ROWS2 ·sgemmRows2x32
#define ROWS1 ·sgemmRows1x32
#include "gemm_rows_amd64.h"
#define ONCE8 ·sgemmRows8x32
#define ONCE12 ·sgemmRows12x32
#include "gemm_once_amd64.h"
#undef ONCE8
#undef ONCE12
#undef PFB
#undef LOADB0
#undef LOADB1
#undef BSHIFT
#undef ROWS4
#undef ROWS2
#undef ROWS1

// B of fp16 values (F16C's VCVTPH2PS widens them) and of bf16 values (the
// high half of a float32: VPMOVZXWD, AVX-512BW, then a 16-bit shift): a row
// of 32 is one line.
#define PFB PREFETCHT0 (DX)
#define BSHIFT 1
#define LOADB0(r) VCVTPH2PS (BX), r
#define LOADB1(r) VCVTPH2PS 32(BX), r
#define ROWS4 ·hgemmRows4x32F16
#define ROWS2 ·hgemmRows2x32F16
#define ROWS1 ·hgemmRows1x32F16
#include "gemm_rows_amd64.h"
#define ONCE8 ·hgemmRows8x32F16
#define ONCE12 ·hgemmRows12x32F16
#include "gemm_once_amd64.h"
#undef ONCE8
#undef ONCE12
#undef LOADB0
#undef LOADB1
#undef ROWS4
#undef ROWS2
#undef ROWS1

#define LOADB0(r) VPMOVZXWD (BX), r; VPSLLD $16, r, r
#define LOADB1(r) VPMOVZXWD 32(BX), r; VPSLLD $16, r, r
#define ROWS4 ·hgemmRows4x32BF16
#define ROWS2 ·hgemmRows2x32BF16
#define ROWS1 ·hgemmRows1x32BF16
#include "gemm_rows_amd64.h"
#define ONCE8 ·hgemmRows8x32BF16
#define ONCE12 ·hgemmRows12x32BF16
#include "gemm_once_amd64.h"
#undef ONCE8
#undef ONCE12
#undef PFB
#undef LOADB0
#undef LOADB1
#undef BSHIFT
#undef ROWS4
#undef ROWS2
#undef ROWS1

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

