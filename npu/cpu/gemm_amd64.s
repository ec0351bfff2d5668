//go:build !purego

#include "textflag.h"

// KSTEP is one k-step of the 6×16 tile: two loads of B (16 floats at BX), six
// broadcasts of A (rows 0-2 at AX + r·R8, rows 3-5 at DX + r·R8), twelve FMAs
// into Y0..Y11 (row r in Y(2r), Y(2r+1)), then A advances by R9 bytes and B by
// R10 bytes.
#define KSTEP \
	VMOVUPS      (BX), Y12;         \
	VMOVUPS      32(BX), Y13;       \
	VBROADCASTSS (AX), Y14;         \
	VFMADD231PS  Y12, Y14, Y0;      \
	VFMADD231PS  Y13, Y14, Y1;      \
	VBROADCASTSS (AX)(R8*1), Y15;   \
	VFMADD231PS  Y12, Y15, Y2;      \
	VFMADD231PS  Y13, Y15, Y3;      \
	VBROADCASTSS (AX)(R8*2), Y14;   \
	VFMADD231PS  Y12, Y14, Y4;      \
	VFMADD231PS  Y13, Y14, Y5;      \
	VBROADCASTSS (DX), Y15;         \
	VFMADD231PS  Y12, Y15, Y6;      \
	VFMADD231PS  Y13, Y15, Y7;      \
	VBROADCASTSS (DX)(R8*1), Y14;   \
	VFMADD231PS  Y12, Y14, Y8;      \
	VFMADD231PS  Y13, Y14, Y9;      \
	VBROADCASTSS (DX)(R8*2), Y15;   \
	VFMADD231PS  Y12, Y15, Y10;     \
	VFMADD231PS  Y13, Y15, Y11;     \
	ADDQ         R9, AX;            \
	ADDQ         R9, DX;            \
	ADDQ         R10, BX

// STORE writes row accumulators lo, hi to the 16 floats at DI.
#define STORE(lo, hi) \
	VMOVUPS lo, (DI);  \
	VMOVUPS hi, 32(DI)

// UPDATE sets the 16 floats at DI to lo, hi + Y15·(DI) (Y15 = beta).
#define UPDATE(lo, hi) \
	VFMADD231PS (DI), Y15, lo;  \
	VFMADD231PS 32(DI), Y15, hi; \
	STORE(lo, hi)

// func sgemmKernel6x16(tiles, k int, a *float32, rsa, csa, tsa int, b *float32, ldb int, c *float32, ldc int, alpha, beta float32)
//
// Tile t (of tiles, stacked down C) reads A from a + t·tsa and writes the six
// rows of C from c + 6t·ldc. Registers: R12 tiles left, R13 this tile's A,
// CX k left, AX/DX A rows 0-2/3-5, BX B, DI C, R8/R9/R10/SI the strides of
// A rows, A columns, B rows and C rows in bytes.
TEXT ·sgemmKernel6x16(SB), NOSPLIT, $0-88
	MOVQ tiles+0(FP), R12
	MOVQ a+16(FP), R13
	MOVQ rsa+24(FP), R8
	SHLQ $2, R8
	MOVQ csa+32(FP), R9
	SHLQ $2, R9
	MOVQ ldb+56(FP), R10
	SHLQ $2, R10
	MOVQ c+64(FP), DI
	MOVQ ldc+72(FP), SI
	SHLQ $2, SI

tile:
	MOVQ k+8(FP), CX
	MOVQ b+48(FP), BX
	MOVQ R13, AX
	LEAQ (AX)(R8*2), DX
	ADDQ R8, DX

	// Start fetching the six rows of C now; they are needed after the k-loop.
	MOVQ       DI, R11
	PREFETCHT0 (R11)
	PREFETCHT0 60(R11)
	ADDQ       SI, R11
	PREFETCHT0 (R11)
	PREFETCHT0 60(R11)
	ADDQ       SI, R11
	PREFETCHT0 (R11)
	PREFETCHT0 60(R11)
	ADDQ       SI, R11
	PREFETCHT0 (R11)
	PREFETCHT0 60(R11)
	ADDQ       SI, R11
	PREFETCHT0 (R11)
	PREFETCHT0 60(R11)
	ADDQ       SI, R11
	PREFETCHT0 (R11)
	PREFETCHT0 60(R11)

	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	VXORPS Y4, Y4, Y4
	VXORPS Y5, Y5, Y5
	VXORPS Y6, Y6, Y6
	VXORPS Y7, Y7, Y7
	VXORPS Y8, Y8, Y8
	VXORPS Y9, Y9, Y9
	VXORPS Y10, Y10, Y10
	VXORPS Y11, Y11, Y11

	CMPQ CX, $4
	JLT  tail

loop4:
	KSTEP
	KSTEP
	KSTEP
	KSTEP
	SUBQ $4, CX
	CMPQ CX, $4
	JGE  loop4

tail:
	TESTQ CX, CX
	JZ    scale

loop1:
	KSTEP
	DECQ CX
	JNZ  loop1

scale:
	VBROADCASTSS alpha+80(FP), Y14
	VMULPS       Y14, Y0, Y0
	VMULPS       Y14, Y1, Y1
	VMULPS       Y14, Y2, Y2
	VMULPS       Y14, Y3, Y3
	VMULPS       Y14, Y4, Y4
	VMULPS       Y14, Y5, Y5
	VMULPS       Y14, Y6, Y6
	VMULPS       Y14, Y7, Y7
	VMULPS       Y14, Y8, Y8
	VMULPS       Y14, Y9, Y9
	VMULPS       Y14, Y10, Y10
	VMULPS       Y14, Y11, Y11

	// beta == 0 (of either sign) must not read C.
	MOVL beta+84(FP), R11
	ANDL $0x7fffffff, R11
	JZ   overwrite

	VBROADCASTSS beta+84(FP), Y15
	UPDATE(Y0, Y1)
	ADDQ         SI, DI
	UPDATE(Y2, Y3)
	ADDQ         SI, DI
	UPDATE(Y4, Y5)
	ADDQ         SI, DI
	UPDATE(Y6, Y7)
	ADDQ         SI, DI
	UPDATE(Y8, Y9)
	ADDQ         SI, DI
	UPDATE(Y10, Y11)
	JMP          next

overwrite:
	STORE(Y0, Y1)
	ADDQ SI, DI
	STORE(Y2, Y3)
	ADDQ SI, DI
	STORE(Y4, Y5)
	ADDQ SI, DI
	STORE(Y6, Y7)
	ADDQ SI, DI
	STORE(Y8, Y9)
	ADDQ SI, DI
	STORE(Y10, Y11)

next:
	// DI is at row 5 of this tile: row 0 of the next is one row on.
	ADDQ SI, DI
	MOVQ tsa+40(FP), R11
	SHLQ $2, R11
	ADDQ R11, R13
	DECQ R12
	JNZ  tile
	VZEROUPPER
	RET

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
