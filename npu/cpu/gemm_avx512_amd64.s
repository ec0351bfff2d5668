//go:build !purego

#include "textflag.h"
#include "gemm_prefetch_amd64.h"

// The AVX-512 sgemm kernel and the packers that go with its 14×32 tile
// (gemmAVX512 in gemm_amd64.go).

#define PFB PREFETCHT0 (DX); PREFETCHT0 64(DX)
#define LOADB0(r) VMOVUPS (BX), r
#define LOADB1(r) VMOVUPS 64(BX), r
#define BSHIFT 2
#define KERN14 ·sgemmKernel14x32
#include "gemm_kernel14_amd64.h"
#undef PFB
#undef LOADB0
#undef LOADB1
#undef BSHIFT
#undef KERN14

// The kernel over panels of fp16 values (F16C's VCVTPH2PS widens them) and
// of bf16 values (the high half of a float32: VPMOVZXWD, AVX-512BW, then a
// 16-bit shift), as weights packed in their half type are read (PackBHalf):
// a row of 32 is one line.
#define PFB PREFETCHT0 (DX)
#define BSHIFT 1
#define LOADB0(r) VCVTPH2PS (BX), r
#define LOADB1(r) VCVTPH2PS 32(BX), r
#define KERN14 ·hgemmKernel14x32F16
#include "gemm_kernel14_amd64.h"
#undef LOADB0
#undef LOADB1
#undef KERN14

#define LOADB0(r) VPMOVZXWD (BX), r; VPSLLD $16, r, r
#define LOADB1(r) VPMOVZXWD 32(BX), r; VPSLLD $16, r, r
#define KERN14 ·hgemmKernel14x32BF16
#include "gemm_kernel14_amd64.h"
#undef PFB
#undef LOADB0
#undef LOADB1
#undef BSHIFT
#undef KERN14

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
