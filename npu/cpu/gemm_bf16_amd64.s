//go:build !purego

#include "textflag.h"

// The bf16 GEMM kernel: AVX512_BF16's VDPBF16PS on k-pair packed panels
// (gemm_bf16.go). UNTESTED on real hardware: no machine this was written on
// has AVX512_BF16. What runs here is the pure-Go model of its arithmetic
// (gemm_bf16_test.go), which this kernel must match bit for bit where the
// instruction exists (TestBF16KernelMatchesModel).
//
// Go's assembler has no VDPBF16PS, so VDPBF16PS_BCST emits its bytes. From
// the Intel SDM, Vol. 2C, "VDPBF16PS—Dot Product of BF16 Pairs Accumulated
// into Packed Single Precision": EVEX.512.F3.0F38.W0 52 /r,
// VDPBF16PS zmm1{k1}{z}, zmm2, zmm3/m512/m32bcst, tuple type Full;
// zmm1 (the accumulator) in ModRM.reg, zmm2 in EVEX.vvvv, zmm3/m in
// ModRM.r/m. The EVEX prefix (Vol. 2A, §2.7.1, Table 2-30) is four bytes:
//
//	0x62
//	P0 = R̄ X̄ B̄ R̄' 0 m m m   R̄, R̄': bits 3 and 4 of zmm1, inverted;
//	                           X̄ = 1 (no index), B̄ = 1 (base AX);
//	                           mmm = 010, the 0F38 map
//	P1 = W v̄ v̄ v̄ v̄ 1 p p     W = 0; v̄v̄v̄v̄: bits 0-3 of zmm2, inverted;
//	                           pp = 10, the F3 prefix
//	P2 = z L'L b V̄' a a a     z = 0; L'L = 10 (512 bits); b = 1 (embedded
//	                           broadcast of the m32 operand, {1to16});
//	                           V̄': bit 4 of zmm2, inverted; aaa = 000 (no
//	                           mask)
//
// then the opcode 0x52, ModRM = mod 01 (disp8), reg = bits 0-2 of zmm1,
// r/m = 000 (AX), and disp8. With embedded broadcast the displacement is
// compressed by N = 4, the broadcast element's size (§2.7.5, Table 2-34:
// Full tuple, EVEX.b = 1, W0), so a byte offset of 4r is written as r.
// VDPBF16PS_BCST(d, s, r) is thus VDPBF16PS Zd, Zs, 4r(AX){1to16}: for each
// of the 16 lanes j, Zd[j] += Zs.bf16[2j+1]·A.bf16[1], then
// Zd[j] += Zs.bf16[2j]·A.bf16[0], A being the 32-bit pair at 4r(AX). For
// example VDPBF16PS_BCST(0, 28, 0) is 62 f2 1e 50 52 40 00 and
// VDPBF16PS_BCST(27, 29, 13) is 62 62 16 50 52 58 0d; GNU objdump reads
// every one in the built kernel back as the instruction meant
// (TestVDPBF16PSEncoding).
#define VDPBF16PS_BCST(d, s, r) \
	BYTE $0x62; \
	BYTE $(((1-(((d)>>3)&1))<<7) | 0x60 | ((1-(((d)>>4)&1))<<4) | 0x02); \
	BYTE $(((15-((s)&15))<<3) | 0x06); \
	BYTE $(0x50 | ((1-(((s)>>4)&1))<<3)); \
	BYTE $0x52; \
	BYTE $(0x40 | (((d)&7)<<3)); \
	BYTE $(r)

// KSTEPBF is one k-pair step of the 14×32 tile: two 512-bit loads of B (32
// pairs at BX) into Z28, Z29, then for each row r of A the pair A[r] (at
// 4r(AX)) broadcast by the instruction into two VDPBF16PS into Z(2r),
// Z(2r+1); then A advances by 14 pairs and B by 32.
#define KSTEPBF \
	VMOVUPS (BX), Z28; \
	VMOVUPS 64(BX), Z29; \
	VDPBF16PS_BCST(0, 28, 0); \
	VDPBF16PS_BCST(1, 29, 0); \
	VDPBF16PS_BCST(2, 28, 1); \
	VDPBF16PS_BCST(3, 29, 1); \
	VDPBF16PS_BCST(4, 28, 2); \
	VDPBF16PS_BCST(5, 29, 2); \
	VDPBF16PS_BCST(6, 28, 3); \
	VDPBF16PS_BCST(7, 29, 3); \
	VDPBF16PS_BCST(8, 28, 4); \
	VDPBF16PS_BCST(9, 29, 4); \
	VDPBF16PS_BCST(10, 28, 5); \
	VDPBF16PS_BCST(11, 29, 5); \
	VDPBF16PS_BCST(12, 28, 6); \
	VDPBF16PS_BCST(13, 29, 6); \
	VDPBF16PS_BCST(14, 28, 7); \
	VDPBF16PS_BCST(15, 29, 7); \
	VDPBF16PS_BCST(16, 28, 8); \
	VDPBF16PS_BCST(17, 29, 8); \
	VDPBF16PS_BCST(18, 28, 9); \
	VDPBF16PS_BCST(19, 29, 9); \
	VDPBF16PS_BCST(20, 28, 10); \
	VDPBF16PS_BCST(21, 29, 10); \
	VDPBF16PS_BCST(22, 28, 11); \
	VDPBF16PS_BCST(23, 29, 11); \
	VDPBF16PS_BCST(24, 28, 12); \
	VDPBF16PS_BCST(25, 29, 12); \
	VDPBF16PS_BCST(26, 28, 13); \
	VDPBF16PS_BCST(27, 29, 13); \
	ADDQ $56, AX; \
	ADDQ $128, BX

// STOREBF writes row accumulators lo, hi to the 32 floats at DI.
#define STOREBF(lo, hi) \
	VMOVUPS lo, (DI); \
	VMOVUPS hi, 64(DI)

// UPDATEBF sets the 32 floats at DI to lo, hi + Z31·(DI) (Z31 = beta).
#define UPDATEBF(lo, hi) \
	VFMADD231PS (DI), Z31, lo;   \
	VFMADD231PS 64(DI), Z31, hi; \
	STOREBF(lo, hi)

// func sbgemmKernel14x32(tiles, kd int, a *float32, tsa int, b *float32, c *float32, ldc int, alpha, beta float32)
//
// Tile t (of tiles, stacked down C) reads kd k-pair steps of A from
// a + t·tsa (14 pairs a step) and of B from b (32 pairs a step), and writes
// C = alpha·A·B + beta·C to the 14 rows of C from c + 14t·ldc; beta == 0
// does not read C. Registers: Z0-Z27 the accumulators (row r in Z(2r),
// Z(2r+1)), Z28-Z29 the pairs of B; R12 tiles left, R13 this tile's A, CX
// steps left, AX A, BX B, DI C, SI the stride of C rows in bytes.
TEXT ·sbgemmKernel14x32(SB), NOSPLIT, $0-64
	MOVQ tiles+0(FP), R12
	MOVQ a+16(FP), R13
	MOVQ c+40(FP), DI
	MOVQ ldc+48(FP), SI
	SHLQ $2, SI

tile:
	MOVQ kd+8(FP), CX
	MOVQ b+32(FP), BX
	MOVQ R13, AX

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

	CMPQ CX, $2
	JLT  tail

loop2:
	KSTEPBF
	KSTEPBF
	SUBQ $2, CX
	CMPQ CX, $2
	JGE  loop2

tail:
	TESTQ CX, CX
	JZ    scale
	KSTEPBF

scale:
	VBROADCASTSS alpha+56(FP), Z30
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
	MOVL beta+60(FP), R11
	ANDL $0x7fffffff, R11
	JZ   overwrite

	VBROADCASTSS beta+60(FP), Z31
	UPDATEBF(Z0, Z1)
	ADDQ         SI, DI
	UPDATEBF(Z2, Z3)
	ADDQ         SI, DI
	UPDATEBF(Z4, Z5)
	ADDQ         SI, DI
	UPDATEBF(Z6, Z7)
	ADDQ         SI, DI
	UPDATEBF(Z8, Z9)
	ADDQ         SI, DI
	UPDATEBF(Z10, Z11)
	ADDQ         SI, DI
	UPDATEBF(Z12, Z13)
	ADDQ         SI, DI
	UPDATEBF(Z14, Z15)
	ADDQ         SI, DI
	UPDATEBF(Z16, Z17)
	ADDQ         SI, DI
	UPDATEBF(Z18, Z19)
	ADDQ         SI, DI
	UPDATEBF(Z20, Z21)
	ADDQ         SI, DI
	UPDATEBF(Z22, Z23)
	ADDQ         SI, DI
	UPDATEBF(Z24, Z25)
	ADDQ         SI, DI
	UPDATEBF(Z26, Z27)
	JMP          next

overwrite:
	STOREBF(Z0, Z1)
	ADDQ SI, DI
	STOREBF(Z2, Z3)
	ADDQ SI, DI
	STOREBF(Z4, Z5)
	ADDQ SI, DI
	STOREBF(Z6, Z7)
	ADDQ SI, DI
	STOREBF(Z8, Z9)
	ADDQ SI, DI
	STOREBF(Z10, Z11)
	ADDQ SI, DI
	STOREBF(Z12, Z13)
	ADDQ SI, DI
	STOREBF(Z14, Z15)
	ADDQ SI, DI
	STOREBF(Z16, Z17)
	ADDQ SI, DI
	STOREBF(Z18, Z19)
	ADDQ SI, DI
	STOREBF(Z20, Z21)
	ADDQ SI, DI
	STOREBF(Z22, Z23)
	ADDQ SI, DI
	STOREBF(Z24, Z25)
	ADDQ SI, DI
	STOREBF(Z26, Z27)

next:
	// DI is at row 13 of this tile: row 0 of the next is one row on.
	ADDQ SI, DI
	MOVQ tsa+24(FP), R11
	SHLQ $2, R11
	ADDQ R11, R13
	DECQ R12
	JNZ  tile
	VZEROUPPER
	RET
