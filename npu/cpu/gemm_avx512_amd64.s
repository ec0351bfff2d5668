//go:build !purego

#include "textflag.h"
#include "gemm_prefetch_amd64.h"

// The AVX-512 sgemm kernel and the packers that go with its 14×32 tile
// (gemmAVX512 in gemm_amd64.go).

// KSTEP14 is one k-step of the 14×32 tile: two 512-bit loads of B (32 floats
// at BX) into Z28, Z29, then for each row r of A a broadcast of A[r] (at
// 4r(AX), A being k-major) into Z30 or Z31 and two FMAs into Z(2r), Z(2r+1);
// then A advances by R9 bytes and B by R10 bytes.
#define KSTEP14 \
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
	VBROADCASTSS 16(AX), Z30; \
	VFMADD231PS Z28, Z30, Z8; \
	VFMADD231PS Z29, Z30, Z9; \
	VBROADCASTSS 20(AX), Z31; \
	VFMADD231PS Z28, Z31, Z10; \
	VFMADD231PS Z29, Z31, Z11; \
	VBROADCASTSS 24(AX), Z30; \
	VFMADD231PS Z28, Z30, Z12; \
	VFMADD231PS Z29, Z30, Z13; \
	VBROADCASTSS 28(AX), Z31; \
	VFMADD231PS Z28, Z31, Z14; \
	VFMADD231PS Z29, Z31, Z15; \
	VBROADCASTSS 32(AX), Z30; \
	VFMADD231PS Z28, Z30, Z16; \
	VFMADD231PS Z29, Z30, Z17; \
	VBROADCASTSS 36(AX), Z31; \
	VFMADD231PS Z28, Z31, Z18; \
	VFMADD231PS Z29, Z31, Z19; \
	VBROADCASTSS 40(AX), Z30; \
	VFMADD231PS Z28, Z30, Z20; \
	VFMADD231PS Z29, Z30, Z21; \
	VBROADCASTSS 44(AX), Z31; \
	VFMADD231PS Z28, Z31, Z22; \
	VFMADD231PS Z29, Z31, Z23; \
	VBROADCASTSS 48(AX), Z30; \
	VFMADD231PS Z28, Z30, Z24; \
	VFMADD231PS Z29, Z30, Z25; \
	VBROADCASTSS 52(AX), Z31; \
	VFMADD231PS Z28, Z31, Z26; \
	VFMADD231PS Z29, Z31, Z27; \
	ADDQ R9, AX; \
	ADDQ R10, BX

// KSTEP14PF is KSTEP14 with a prefetch of the B row PFK k-steps ahead (at
// DX, which advances with B).
#define KSTEP14PF \
	PREFETCHT0 (DX); \
	PREFETCHT0 64(DX); \
	ADDQ R10, DX; \
	KSTEP14

// STORE14 writes row accumulators lo, hi to the 32 floats at DI.
#define STORE14(lo, hi) \
	VMOVUPS lo, (DI); \
	VMOVUPS hi, 64(DI)

// UPDATE14 sets the 32 floats at DI to lo, hi + Z31·(DI) (Z31 = beta).
#define UPDATE14(lo, hi) \
	VFMADD231PS (DI), Z31, lo;   \
	VFMADD231PS 64(DI), Z31, hi; \
	STORE14(lo, hi)

// func sgemmKernel14x32(tiles, k int, a *float32, csa, tsa int, b *float32, ldb int, c *float32, ldc int, alpha, beta float32)
//
// Tile t (of tiles, stacked down C) reads A from a + t·tsa, A[i][p] at
// a + i + p·csa, and writes the 14 rows of C from c + 14t·ldc. Registers:
// Z0-Z27 the accumulators (row r in Z(2r), Z(2r+1)), Z28-Z29 the row of B,
// Z30-Z31 broadcasts of A; R12 tiles left, R13 this tile's A, CX k left, AX
// A, BX B, DI C, R9/R10/SI the strides of A columns, B rows and C rows in
// bytes.
TEXT ·sgemmKernel14x32(SB), NOSPLIT, $0-80
	MOVQ tiles+0(FP), R12
	MOVQ a+16(FP), R13
	MOVQ csa+24(FP), R9
	SHLQ $2, R9
	MOVQ ldb+48(FP), R10
	SHLQ $2, R10
	MOVQ c+56(FP), DI
	MOVQ ldc+64(FP), SI
	SHLQ $2, SI

tile:
	MOVQ k+8(FP), CX
	MOVQ b+40(FP), BX
	MOVQ R13, AX

	// Start fetching the 14 rows of C now; they are needed after the k-loop.
	MOVQ DI, R11
	PREFETCHT0 (R11)
	PREFETCHT0 124(R11)
	ADDQ       SI, R11
	PREFETCHT0 (R11)
	PREFETCHT0 124(R11)
	ADDQ       SI, R11
	PREFETCHT0 (R11)
	PREFETCHT0 124(R11)
	ADDQ       SI, R11
	PREFETCHT0 (R11)
	PREFETCHT0 124(R11)
	ADDQ       SI, R11
	PREFETCHT0 (R11)
	PREFETCHT0 124(R11)
	ADDQ       SI, R11
	PREFETCHT0 (R11)
	PREFETCHT0 124(R11)
	ADDQ       SI, R11
	PREFETCHT0 (R11)
	PREFETCHT0 124(R11)
	ADDQ       SI, R11
	PREFETCHT0 (R11)
	PREFETCHT0 124(R11)
	ADDQ       SI, R11
	PREFETCHT0 (R11)
	PREFETCHT0 124(R11)
	ADDQ       SI, R11
	PREFETCHT0 (R11)
	PREFETCHT0 124(R11)
	ADDQ       SI, R11
	PREFETCHT0 (R11)
	PREFETCHT0 124(R11)
	ADDQ       SI, R11
	PREFETCHT0 (R11)
	PREFETCHT0 124(R11)
	ADDQ       SI, R11
	PREFETCHT0 (R11)
	PREFETCHT0 124(R11)
	ADDQ       SI, R11
	PREFETCHT0 (R11)
	PREFETCHT0 124(R11)

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
	VPXORD Z24, Z24, Z24
	VPXORD Z25, Z25, Z25
	VPXORD Z26, Z26, Z26
	VPXORD Z27, Z27, Z27

	// The first tile streams B from wherever it is (packed weights: L3 or
	// memory) and prefetches it; the others read it again from L1 or L2.
	CMPQ R12, tiles+0(FP)
	JNE  plain
	PFSTART
	CMPQ CX, $4
	JLT  tailpf

loop4pf:
	KSTEP14PF
	KSTEP14PF
	KSTEP14PF
	KSTEP14PF
	SUBQ $4, CX
	CMPQ CX, $4
	JGE  loop4pf

tailpf:
	TESTQ CX, CX
	JZ    scale

loop1pf:
	KSTEP14PF
	DECQ CX
	JNZ  loop1pf
	JMP  scale

plain:
	CMPQ CX, $4
	JLT  tail

loop4:
	KSTEP14
	KSTEP14
	KSTEP14
	KSTEP14
	SUBQ $4, CX
	CMPQ CX, $4
	JGE  loop4

tail:
	TESTQ CX, CX
	JZ    scale

loop1:
	KSTEP14
	DECQ CX
	JNZ  loop1

scale:
	VBROADCASTSS alpha+72(FP), Z30
	VMULPS       Z30, Z0, Z0
	VMULPS       Z30, Z1, Z1
	VMULPS       Z30, Z2, Z2
	VMULPS       Z30, Z3, Z3
	VMULPS       Z30, Z4, Z4
	VMULPS       Z30, Z5, Z5
	VMULPS       Z30, Z6, Z6
	VMULPS       Z30, Z7, Z7
	VMULPS       Z30, Z8, Z8
	VMULPS       Z30, Z9, Z9
	VMULPS       Z30, Z10, Z10
	VMULPS       Z30, Z11, Z11
	VMULPS       Z30, Z12, Z12
	VMULPS       Z30, Z13, Z13
	VMULPS       Z30, Z14, Z14
	VMULPS       Z30, Z15, Z15
	VMULPS       Z30, Z16, Z16
	VMULPS       Z30, Z17, Z17
	VMULPS       Z30, Z18, Z18
	VMULPS       Z30, Z19, Z19
	VMULPS       Z30, Z20, Z20
	VMULPS       Z30, Z21, Z21
	VMULPS       Z30, Z22, Z22
	VMULPS       Z30, Z23, Z23
	VMULPS       Z30, Z24, Z24
	VMULPS       Z30, Z25, Z25
	VMULPS       Z30, Z26, Z26
	VMULPS       Z30, Z27, Z27

	// beta == 0 (of either sign) must not read C.
	MOVL beta+76(FP), R11
	ANDL $0x7fffffff, R11
	JZ   overwrite

	VBROADCASTSS beta+76(FP), Z31
	UPDATE14(Z0, Z1)
	ADDQ         SI, DI
	UPDATE14(Z2, Z3)
	ADDQ         SI, DI
	UPDATE14(Z4, Z5)
	ADDQ         SI, DI
	UPDATE14(Z6, Z7)
	ADDQ         SI, DI
	UPDATE14(Z8, Z9)
	ADDQ         SI, DI
	UPDATE14(Z10, Z11)
	ADDQ         SI, DI
	UPDATE14(Z12, Z13)
	ADDQ         SI, DI
	UPDATE14(Z14, Z15)
	ADDQ         SI, DI
	UPDATE14(Z16, Z17)
	ADDQ         SI, DI
	UPDATE14(Z18, Z19)
	ADDQ         SI, DI
	UPDATE14(Z20, Z21)
	ADDQ         SI, DI
	UPDATE14(Z22, Z23)
	ADDQ         SI, DI
	UPDATE14(Z24, Z25)
	ADDQ         SI, DI
	UPDATE14(Z26, Z27)
	JMP          next

overwrite:
	STORE14(Z0, Z1)
	ADDQ SI, DI
	STORE14(Z2, Z3)
	ADDQ SI, DI
	STORE14(Z4, Z5)
	ADDQ SI, DI
	STORE14(Z6, Z7)
	ADDQ SI, DI
	STORE14(Z8, Z9)
	ADDQ SI, DI
	STORE14(Z10, Z11)
	ADDQ SI, DI
	STORE14(Z12, Z13)
	ADDQ SI, DI
	STORE14(Z14, Z15)
	ADDQ SI, DI
	STORE14(Z16, Z17)
	ADDQ SI, DI
	STORE14(Z18, Z19)
	ADDQ SI, DI
	STORE14(Z20, Z21)
	ADDQ SI, DI
	STORE14(Z22, Z23)
	ADDQ SI, DI
	STORE14(Z24, Z25)
	ADDQ SI, DI
	STORE14(Z26, Z27)

next:
	// DI is at row 13 of this tile: row 0 of the next is one row on.
	ADDQ SI, DI
	MOVQ tsa+32(FP), R11
	SHLQ $2, R11
	ADDQ R11, R13
	DECQ R12
	JNZ  tile
	VZEROUPPER
	RET

// func transpose8(d, a *float32, lda, k8, dstride int)
//
// Each of k8 steps loads 8 rows of 8 floats (rows 0-3 at SI + r·DX, rows 4-7
// at R11 + r·DX, R12 = 3·DX), transposes the 8×8 block in registers and
// stores column q at DI + q·R8 (R9 = 3·R8, R13 = DI + 4·R8).
TEXT ·transpose8(SB), NOSPLIT, $0-40
	MOVQ  d+0(FP), DI
	MOVQ  a+8(FP), SI
	MOVQ  lda+16(FP), DX
	SHLQ  $2, DX
	MOVQ  k8+24(FP), CX
	MOVQ  dstride+32(FP), R8
	LEAQ  (DX)(DX*2), R12
	LEAQ  (R8)(R8*2), R9
	LEAQ  (SI)(DX*4), R11
	TESTQ CX, CX
	JZ    tdone

tloop:
	// The rows are far apart (B stored n×k): fetch each 512 bytes ahead.
	PREFETCHT0 512(SI)
	PREFETCHT0 512(SI)(DX*1)
	PREFETCHT0 512(SI)(DX*2)
	PREFETCHT0 512(SI)(R12*1)
	PREFETCHT0 512(R11)
	PREFETCHT0 512(R11)(DX*1)
	PREFETCHT0 512(R11)(DX*2)
	PREFETCHT0 512(R11)(R12*1)
	VMOVUPS    (SI), Y0
	VMOVUPS    (SI)(DX*1), Y1
	VMOVUPS    (SI)(DX*2), Y2
	VMOVUPS    (SI)(R12*1), Y3
	VMOVUPS    (R11), Y4
	VMOVUPS    (R11)(DX*1), Y5
	VMOVUPS    (R11)(DX*2), Y6
	VMOVUPS    (R11)(R12*1), Y7
	VUNPCKLPS  Y1, Y0, Y8
	VUNPCKHPS  Y1, Y0, Y9
	VUNPCKLPS  Y3, Y2, Y10
	VUNPCKHPS  Y3, Y2, Y11
	VUNPCKLPS  Y5, Y4, Y12
	VUNPCKHPS  Y5, Y4, Y13
	VUNPCKLPS  Y7, Y6, Y14
	VUNPCKHPS  Y7, Y6, Y15
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
	LEAQ       (DI)(R8*4), R13
	VMOVUPS    Y8, (DI)
	VMOVUPS    Y9, (DI)(R8*1)
	VMOVUPS    Y10, (DI)(R8*2)
	VMOVUPS    Y11, (DI)(R9*1)
	VMOVUPS    Y12, (R13)
	VMOVUPS    Y13, (R13)(R8*1)
	VMOVUPS    Y14, (R13)(R8*2)
	VMOVUPS    Y15, (R13)(R9*1)
	ADDQ       $32, SI
	ADDQ       $32, R11
	LEAQ       (R13)(R8*4), DI
	DECQ       CX
	JNZ        tloop

tdone:
	VZEROUPPER
	RET

// func packAT14(d, a *float32, lda, k, tiles, dstride int)
//
// For each of k rows of a (SI, stride DX) and each of tiles runs of 14
// floats, a masked 512-bit load and store (K1 = the low 14 lanes) copies the
// run to BX = d + t·dstride + 14p floats; the masked load reads nothing past
// the run.
TEXT ·packAT14(SB), NOSPLIT, $0-48
	MOVQ  d+0(FP), DI
	MOVQ  a+8(FP), SI
	MOVQ  lda+16(FP), DX
	SHLQ  $2, DX
	MOVQ  k+24(FP), CX
	MOVQ  tiles+32(FP), R12
	MOVQ  dstride+40(FP), R13
	SHLQ  $2, R13
	MOVL  $0x3fff, AX
	KMOVW AX, K1
	TESTQ CX, CX
	JZ    atdone
	TESTQ R12, R12
	JZ    atdone

atrow:
	MOVQ SI, R10
	MOVQ DI, BX
	MOVQ R12, AX

attile:
	VMOVUPS (R10), K1, Z0
	VMOVUPS Z0, K1, (BX)
	ADDQ    $56, R10
	ADDQ    R13, BX
	DECQ    AX
	JNZ     attile

	ADDQ DX, SI
	ADDQ $56, DI
	DECQ CX
	JNZ  atrow

atdone:
	VZEROUPPER
	RET
