//go:build !purego

#include "textflag.h"
#include "gemm_prefetch_amd64.h"

#define LOADB0(r) VMOVUPS (BX), r
#define LOADB1(r) VMOVUPS 32(BX), r
#define BSHIFT 2
#define KERN6 ·sgemmKernel6x16
#include "gemm_kernel6_amd64.h"
#define PFB PREFETCHT0 (DX)
#define ROWS4 ·sgemmRows4x16
#define ROWS2 ·sgemmRows2x16
#define ROWS1 ·sgemmRows1x16
#include "gemm_rows6_amd64.h"
#undef ROWS4
#undef ROWS2
#undef ROWS1
#undef LOADB0
#undef LOADB1
#undef BSHIFT
#undef KERN6

// The kernel over panels of fp16 values (F16C's VCVTPH2PS widens them) and
// of bf16 values (the high half of a float32: VPMOVZXWD, then a 16-bit
// shift), as weights packed in their half type are read (PackBHalf).
#define BSHIFT 1
#define LOADB0(r) VCVTPH2PS (BX), r
#define LOADB1(r) VCVTPH2PS 16(BX), r
#define KERN6 ·hgemmKernel6x16F16
#include "gemm_kernel6_amd64.h"
#define ROWS4 ·hgemmRows4x16F16
#define ROWS2 ·hgemmRows2x16F16
#define ROWS1 ·hgemmRows1x16F16
#include "gemm_rows6_amd64.h"
#undef ROWS4
#undef ROWS2
#undef ROWS1
#undef LOADB0
#undef LOADB1
#undef KERN6

#define LOADB0(r) VPMOVZXWD (BX), r; VPSLLD $16, r, r
#define LOADB1(r) VPMOVZXWD 16(BX), r; VPSLLD $16, r, r
#define KERN6 ·hgemmKernel6x16BF16
#include "gemm_kernel6_amd64.h"
#define ROWS4 ·hgemmRows4x16BF16
#define ROWS2 ·hgemmRows2x16BF16
#define ROWS1 ·hgemmRows1x16BF16
#include "gemm_rows6_amd64.h"
#undef ROWS4
#undef ROWS2
#undef ROWS1
#undef PFB
#undef LOADB0
#undef LOADB1
#undef BSHIFT
#undef KERN6

// TRANSPOSE8 loads eight rows of eight floats (rows 0-3 at R10 + r·DX, rows
// 4-7 at R11 + r·DX, R12 = 3·DX) and stores the transposed 8×8 block as eight
// rows of eight floats at off(DI), off+64(DI), ..., off+448(DI).
#define TRANSPOSE8(off) \
	VMOVUPS    (R10), Y0;                  \
	VMOVUPS    (R10)(DX*1), Y1;            \
	VMOVUPS    (R10)(DX*2), Y2;            \
	VMOVUPS    (R10)(R12*1), Y3;           \
	VMOVUPS    (R11), Y4;                  \
	VMOVUPS    (R11)(DX*1), Y5;            \
	VMOVUPS    (R11)(DX*2), Y6;            \
	VMOVUPS    (R11)(R12*1), Y7;           \
	VUNPCKLPS  Y1, Y0, Y8;                 \
	VUNPCKHPS  Y1, Y0, Y9;                 \
	VUNPCKLPS  Y3, Y2, Y10;                \
	VUNPCKHPS  Y3, Y2, Y11;                \
	VUNPCKLPS  Y5, Y4, Y12;                \
	VUNPCKHPS  Y5, Y4, Y13;                \
	VUNPCKLPS  Y7, Y6, Y14;                \
	VUNPCKHPS  Y7, Y6, Y15;                \
	VSHUFPS    $0x44, Y10, Y8, Y0;         \
	VSHUFPS    $0xEE, Y10, Y8, Y1;         \
	VSHUFPS    $0x44, Y11, Y9, Y2;         \
	VSHUFPS    $0xEE, Y11, Y9, Y3;         \
	VSHUFPS    $0x44, Y14, Y12, Y4;        \
	VSHUFPS    $0xEE, Y14, Y12, Y5;        \
	VSHUFPS    $0x44, Y15, Y13, Y6;        \
	VSHUFPS    $0xEE, Y15, Y13, Y7;        \
	VPERM2F128 $0x20, Y4, Y0, Y8;          \
	VPERM2F128 $0x20, Y5, Y1, Y9;          \
	VPERM2F128 $0x20, Y6, Y2, Y10;         \
	VPERM2F128 $0x20, Y7, Y3, Y11;         \
	VPERM2F128 $0x31, Y4, Y0, Y12;         \
	VPERM2F128 $0x31, Y5, Y1, Y13;         \
	VPERM2F128 $0x31, Y6, Y2, Y14;         \
	VPERM2F128 $0x31, Y7, Y3, Y15;         \
	VMOVUPS    Y8, off(DI);                \
	VMOVUPS    Y9, off+64(DI);             \
	VMOVUPS    Y10, off+128(DI);           \
	VMOVUPS    Y11, off+192(DI);           \
	VMOVUPS    Y12, off+256(DI);           \
	VMOVUPS    Y13, off+320(DI);           \
	VMOVUPS    Y14, off+384(DI);           \
	VMOVUPS    Y15, off+448(DI)

// func packBT16(d, b *float32, ldb, k8 int)
TEXT ·packBT16(SB), NOSPLIT, $0-32
	MOVQ d+0(FP), DI
	MOVQ b+8(FP), SI
	MOVQ ldb+16(FP), DX
	SHLQ $2, DX
	MOVQ k8+24(FP), CX
	LEAQ (DX)(DX*2), R12
	TESTQ CX, CX
	JZ    packdone

packloop:
	// Rows 0-7 of the panel go to columns 0-7 of d.
	MOVQ SI, R10
	LEAQ (SI)(DX*4), R11
	TRANSPOSE8(0)
	// Rows 8-15 go to columns 8-15.
	LEAQ (R11)(DX*4), R10
	LEAQ (R10)(DX*4), R11
	TRANSPOSE8(32)
	ADDQ $32, SI
	ADDQ $512, DI
	DECQ CX
	JNZ  packloop

packdone:
	VZEROUPPER
	RET

// func packA6(d, a *float32, lda, k8 int)
//
// Rows r0..r5 of a (stride lda) are loaded eight columns at a time and
// transposed as an 8×8 block whose rows 6 and 7 repeat r5; output row q (six
// floats, then two of junk) is stored at 24q(DI) in increasing q, so each
// store's junk is overwritten by the next, and the last one spills two
// floats past the 48 written, which the caller leaves room for.
TEXT ·packA6(SB), NOSPLIT, $0-32
	MOVQ d+0(FP), DI
	MOVQ a+8(FP), SI
	MOVQ lda+16(FP), DX
	SHLQ $2, DX
	MOVQ k8+24(FP), CX
	LEAQ (SI)(DX*2), R11
	ADDQ DX, R11
	TESTQ CX, CX
	JZ    adone

aloop:
	VMOVUPS    (SI), Y0
	VMOVUPS    (SI)(DX*1), Y1
	VMOVUPS    (SI)(DX*2), Y2
	VMOVUPS    (R11), Y3
	VMOVUPS    (R11)(DX*1), Y4
	VMOVUPS    (R11)(DX*2), Y5
	VUNPCKLPS  Y1, Y0, Y8
	VUNPCKHPS  Y1, Y0, Y9
	VUNPCKLPS  Y3, Y2, Y10
	VUNPCKHPS  Y3, Y2, Y11
	VUNPCKLPS  Y5, Y4, Y12
	VUNPCKHPS  Y5, Y4, Y13
	VUNPCKLPS  Y5, Y5, Y14
	VUNPCKHPS  Y5, Y5, Y15
	VSHUFPS    $0x44, Y10, Y8, Y0
	VSHUFPS    $0xEE, Y10, Y8, Y1
	VSHUFPS    $0x44, Y11, Y9, Y2
	VSHUFPS    $0xEE, Y11, Y9, Y3
	VSHUFPS    $0x44, Y14, Y12, Y4
	VSHUFPS    $0xEE, Y14, Y12, Y5
	VSHUFPS    $0x44, Y15, Y13, Y6
	VSHUFPS    $0xEE, Y15, Y13, Y7
	VPERM2F128 $0x20, Y4, Y0, Y8
	VPERM2F128 $0x20, Y5, Y1, Y9
	VPERM2F128 $0x20, Y6, Y2, Y10
	VPERM2F128 $0x20, Y7, Y3, Y11
	VPERM2F128 $0x31, Y4, Y0, Y12
	VPERM2F128 $0x31, Y5, Y1, Y13
	VPERM2F128 $0x31, Y6, Y2, Y14
	VPERM2F128 $0x31, Y7, Y3, Y15
	VMOVUPS    Y8, (DI)
	VMOVUPS    Y9, 24(DI)
	VMOVUPS    Y10, 48(DI)
	VMOVUPS    Y11, 72(DI)
	VMOVUPS    Y12, 96(DI)
	VMOVUPS    Y13, 120(DI)
	VMOVUPS    Y14, 144(DI)
	VMOVUPS    Y15, 168(DI)
	ADDQ       $32, SI
	ADDQ       $32, R11
	ADDQ       $192, DI
	DECQ       CX
	JNZ        aloop

adone:
	VZEROUPPER
	RET

// ATROW copies one row of the 8-row chunk for the current tile: six floats,
// four at lo and two at hi (= lo+16), to off(BX).
#define ATROW(lo, hi, off) \
	VMOVUPS lo, X0;         \
	VMOVQ   hi, X1;         \
	VMOVUPS X0, off(BX);    \
	VMOVQ   X1, off+16(BX)

// func packAT6(d, a *float32, lda, k8, tiles, dstride int)
//
// For each chunk of eight rows of a (stride lda) and each of tiles runs of
// six columns, copies the 8×6 block to 48 consecutive floats of d: tile t of
// chunk c goes to d + t·dstride + 48c.
TEXT ·packAT6(SB), NOSPLIT, $0-48
	MOVQ d+0(FP), DI
	MOVQ a+8(FP), SI
	MOVQ lda+16(FP), DX
	SHLQ $2, DX
	MOVQ k8+24(FP), CX
	MOVQ tiles+32(FP), R12
	MOVQ dstride+40(FP), R13
	SHLQ $2, R13
	LEAQ (DX)(DX*2), R8
	TESTQ CX, CX
	JZ    atdone
	TESTQ R12, R12
	JZ    atdone

atchunk:
	MOVQ SI, R10
	LEAQ (SI)(DX*4), R11
	MOVQ DI, BX
	MOVQ R12, AX

attile:
	// Rows 0-3 at R10 + r·DX, rows 4-7 at R11 + r·DX (R8 = 3·DX).
	ATROW((R10), 16(R10), 0)
	ATROW((R10)(DX*1), 16(R10)(DX*1), 24)
	ATROW((R10)(DX*2), 16(R10)(DX*2), 48)
	ATROW((R10)(R8*1), 16(R10)(R8*1), 72)
	ATROW((R11), 16(R11), 96)
	ATROW((R11)(DX*1), 16(R11)(DX*1), 120)
	ATROW((R11)(DX*2), 16(R11)(DX*2), 144)
	ATROW((R11)(R8*1), 16(R11)(R8*1), 168)
	ADDQ $24, R10
	ADDQ $24, R11
	ADDQ R13, BX
	DECQ AX
	JNZ  attile

	LEAQ (SI)(DX*8), SI
	ADDQ $192, DI
	DECQ CX
	JNZ  atchunk

atdone:
	RET
