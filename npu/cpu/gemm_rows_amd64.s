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

// The one-pass row kernels: 8 or 12 rows of alpha·A·B against one 32-column
// panel of B, reading each row of B once, for the 5 to 12 rows of a
// decoding step's products with weights packed once (PackB), where B streams
// from L3 or memory: the row kernels above read a panel once per 4 rows.
// A is k-major with 8 (or 12) floats a step, zero past the rows wanted;
// each value's arithmetic is the 14-row kernel's (an FMA chain over k in
// order from zero, then one multiply by alpha), so the bits are the same.
// KSTEPOR is one k-step of R rows: B's row of 32 at BX into two registers
// (its lines PFK rows ahead asked for at DX), then for each row r a
// broadcast of A[r] and two FMAs into Z(2r), Z(2r+1). k >= 1.

#define KSTEPO8 \
	PREFETCHT0 (DX); \
	PREFETCHT0 64(DX); \
	VMOVUPS (BX), Z16; \
	VMOVUPS 64(BX), Z17; \
	VBROADCASTSS 0(AX), Z18; \
	VFMADD231PS Z16, Z18, Z0; \
	VFMADD231PS Z17, Z18, Z1; \
	VBROADCASTSS 4(AX), Z19; \
	VFMADD231PS Z16, Z19, Z2; \
	VFMADD231PS Z17, Z19, Z3; \
	VBROADCASTSS 8(AX), Z18; \
	VFMADD231PS Z16, Z18, Z4; \
	VFMADD231PS Z17, Z18, Z5; \
	VBROADCASTSS 12(AX), Z19; \
	VFMADD231PS Z16, Z19, Z6; \
	VFMADD231PS Z17, Z19, Z7; \
	VBROADCASTSS 16(AX), Z18; \
	VFMADD231PS Z16, Z18, Z8; \
	VFMADD231PS Z17, Z18, Z9; \
	VBROADCASTSS 20(AX), Z19; \
	VFMADD231PS Z16, Z19, Z10; \
	VFMADD231PS Z17, Z19, Z11; \
	VBROADCASTSS 24(AX), Z18; \
	VFMADD231PS Z16, Z18, Z12; \
	VFMADD231PS Z17, Z18, Z13; \
	VBROADCASTSS 28(AX), Z19; \
	VFMADD231PS Z16, Z19, Z14; \
	VFMADD231PS Z17, Z19, Z15; \
	ADDQ $32, AX; \
	ADDQ R10, BX; \
	ADDQ R10, DX

// func sgemmRows8x32(k int, a *float32, b *float32, ldb int, c *float32, ldc int, alpha float32)
TEXT ·sgemmRows8x32(SB), NOSPLIT, $0-52
	MOVQ k+0(FP), CX
	MOVQ a+8(FP), AX
	MOVQ b+16(FP), BX
	MOVQ ldb+24(FP), R10
	SHLQ $2, R10
	PFSTART
	VPXORD Z0, Z0, Z0
	VPXORD Z1, Z1, Z1
	VPXORD Z2, Z2, Z2
	VPXORD Z3, Z3, Z3
	VPXORD Z4, Z4, Z4
	VPXORD Z5, Z5, Z5
	VPXORD Z6, Z6, Z6
	VPXORD Z7, Z7, Z7
	VPXORD Z8, Z8, Z8
	VPXORD Z9, Z9, Z9
	VPXORD Z10, Z10, Z10
	VPXORD Z11, Z11, Z11
	VPXORD Z12, Z12, Z12
	VPXORD Z13, Z13, Z13
	VPXORD Z14, Z14, Z14
	VPXORD Z15, Z15, Z15

o8loop:
	KSTEPO8
	DECQ CX
	JNZ  o8loop
	VBROADCASTSS alpha+48(FP), Z18
	VMULPS Z18, Z0, Z0
	VMULPS Z18, Z1, Z1
	VMULPS Z18, Z2, Z2
	VMULPS Z18, Z3, Z3
	VMULPS Z18, Z4, Z4
	VMULPS Z18, Z5, Z5
	VMULPS Z18, Z6, Z6
	VMULPS Z18, Z7, Z7
	VMULPS Z18, Z8, Z8
	VMULPS Z18, Z9, Z9
	VMULPS Z18, Z10, Z10
	VMULPS Z18, Z11, Z11
	VMULPS Z18, Z12, Z12
	VMULPS Z18, Z13, Z13
	VMULPS Z18, Z14, Z14
	VMULPS Z18, Z15, Z15
	MOVQ c+32(FP), DI
	MOVQ ldc+40(FP), SI
	SHLQ $2, SI
	VMOVUPS Z0, (DI)
	VMOVUPS Z1, 64(DI)
	ADDQ    SI, DI
	VMOVUPS Z2, (DI)
	VMOVUPS Z3, 64(DI)
	ADDQ    SI, DI
	VMOVUPS Z4, (DI)
	VMOVUPS Z5, 64(DI)
	ADDQ    SI, DI
	VMOVUPS Z6, (DI)
	VMOVUPS Z7, 64(DI)
	ADDQ    SI, DI
	VMOVUPS Z8, (DI)
	VMOVUPS Z9, 64(DI)
	ADDQ    SI, DI
	VMOVUPS Z10, (DI)
	VMOVUPS Z11, 64(DI)
	ADDQ    SI, DI
	VMOVUPS Z12, (DI)
	VMOVUPS Z13, 64(DI)
	ADDQ    SI, DI
	VMOVUPS Z14, (DI)
	VMOVUPS Z15, 64(DI)
	VZEROUPPER
	RET

#define KSTEPO12 \
	PREFETCHT0 (DX); \
	PREFETCHT0 64(DX); \
	VMOVUPS (BX), Z24; \
	VMOVUPS 64(BX), Z25; \
	VBROADCASTSS 0(AX), Z26; \
	VFMADD231PS Z24, Z26, Z0; \
	VFMADD231PS Z25, Z26, Z1; \
	VBROADCASTSS 4(AX), Z27; \
	VFMADD231PS Z24, Z27, Z2; \
	VFMADD231PS Z25, Z27, Z3; \
	VBROADCASTSS 8(AX), Z26; \
	VFMADD231PS Z24, Z26, Z4; \
	VFMADD231PS Z25, Z26, Z5; \
	VBROADCASTSS 12(AX), Z27; \
	VFMADD231PS Z24, Z27, Z6; \
	VFMADD231PS Z25, Z27, Z7; \
	VBROADCASTSS 16(AX), Z26; \
	VFMADD231PS Z24, Z26, Z8; \
	VFMADD231PS Z25, Z26, Z9; \
	VBROADCASTSS 20(AX), Z27; \
	VFMADD231PS Z24, Z27, Z10; \
	VFMADD231PS Z25, Z27, Z11; \
	VBROADCASTSS 24(AX), Z26; \
	VFMADD231PS Z24, Z26, Z12; \
	VFMADD231PS Z25, Z26, Z13; \
	VBROADCASTSS 28(AX), Z27; \
	VFMADD231PS Z24, Z27, Z14; \
	VFMADD231PS Z25, Z27, Z15; \
	VBROADCASTSS 32(AX), Z26; \
	VFMADD231PS Z24, Z26, Z16; \
	VFMADD231PS Z25, Z26, Z17; \
	VBROADCASTSS 36(AX), Z27; \
	VFMADD231PS Z24, Z27, Z18; \
	VFMADD231PS Z25, Z27, Z19; \
	VBROADCASTSS 40(AX), Z26; \
	VFMADD231PS Z24, Z26, Z20; \
	VFMADD231PS Z25, Z26, Z21; \
	VBROADCASTSS 44(AX), Z27; \
	VFMADD231PS Z24, Z27, Z22; \
	VFMADD231PS Z25, Z27, Z23; \
	ADDQ $48, AX; \
	ADDQ R10, BX; \
	ADDQ R10, DX

// func sgemmRows12x32(k int, a *float32, b *float32, ldb int, c *float32, ldc int, alpha float32)
TEXT ·sgemmRows12x32(SB), NOSPLIT, $0-52
	MOVQ k+0(FP), CX
	MOVQ a+8(FP), AX
	MOVQ b+16(FP), BX
	MOVQ ldb+24(FP), R10
	SHLQ $2, R10
	PFSTART
	VPXORD Z0, Z0, Z0
	VPXORD Z1, Z1, Z1
	VPXORD Z2, Z2, Z2
	VPXORD Z3, Z3, Z3
	VPXORD Z4, Z4, Z4
	VPXORD Z5, Z5, Z5
	VPXORD Z6, Z6, Z6
	VPXORD Z7, Z7, Z7
	VPXORD Z8, Z8, Z8
	VPXORD Z9, Z9, Z9
	VPXORD Z10, Z10, Z10
	VPXORD Z11, Z11, Z11
	VPXORD Z12, Z12, Z12
	VPXORD Z13, Z13, Z13
	VPXORD Z14, Z14, Z14
	VPXORD Z15, Z15, Z15
	VPXORD Z16, Z16, Z16
	VPXORD Z17, Z17, Z17
	VPXORD Z18, Z18, Z18
	VPXORD Z19, Z19, Z19
	VPXORD Z20, Z20, Z20
	VPXORD Z21, Z21, Z21
	VPXORD Z22, Z22, Z22
	VPXORD Z23, Z23, Z23

o12loop:
	KSTEPO12
	DECQ CX
	JNZ  o12loop
	VBROADCASTSS alpha+48(FP), Z26
	VMULPS Z26, Z0, Z0
	VMULPS Z26, Z1, Z1
	VMULPS Z26, Z2, Z2
	VMULPS Z26, Z3, Z3
	VMULPS Z26, Z4, Z4
	VMULPS Z26, Z5, Z5
	VMULPS Z26, Z6, Z6
	VMULPS Z26, Z7, Z7
	VMULPS Z26, Z8, Z8
	VMULPS Z26, Z9, Z9
	VMULPS Z26, Z10, Z10
	VMULPS Z26, Z11, Z11
	VMULPS Z26, Z12, Z12
	VMULPS Z26, Z13, Z13
	VMULPS Z26, Z14, Z14
	VMULPS Z26, Z15, Z15
	VMULPS Z26, Z16, Z16
	VMULPS Z26, Z17, Z17
	VMULPS Z26, Z18, Z18
	VMULPS Z26, Z19, Z19
	VMULPS Z26, Z20, Z20
	VMULPS Z26, Z21, Z21
	VMULPS Z26, Z22, Z22
	VMULPS Z26, Z23, Z23
	MOVQ c+32(FP), DI
	MOVQ ldc+40(FP), SI
	SHLQ $2, SI
	VMOVUPS Z0, (DI)
	VMOVUPS Z1, 64(DI)
	ADDQ    SI, DI
	VMOVUPS Z2, (DI)
	VMOVUPS Z3, 64(DI)
	ADDQ    SI, DI
	VMOVUPS Z4, (DI)
	VMOVUPS Z5, 64(DI)
	ADDQ    SI, DI
	VMOVUPS Z6, (DI)
	VMOVUPS Z7, 64(DI)
	ADDQ    SI, DI
	VMOVUPS Z8, (DI)
	VMOVUPS Z9, 64(DI)
	ADDQ    SI, DI
	VMOVUPS Z10, (DI)
	VMOVUPS Z11, 64(DI)
	ADDQ    SI, DI
	VMOVUPS Z12, (DI)
	VMOVUPS Z13, 64(DI)
	ADDQ    SI, DI
	VMOVUPS Z14, (DI)
	VMOVUPS Z15, 64(DI)
	ADDQ    SI, DI
	VMOVUPS Z16, (DI)
	VMOVUPS Z17, 64(DI)
	ADDQ    SI, DI
	VMOVUPS Z18, (DI)
	VMOVUPS Z19, 64(DI)
	ADDQ    SI, DI
	VMOVUPS Z20, (DI)
	VMOVUPS Z21, 64(DI)
	ADDQ    SI, DI
	VMOVUPS Z22, (DI)
	VMOVUPS Z23, 64(DI)
	VZEROUPPER
	RET
