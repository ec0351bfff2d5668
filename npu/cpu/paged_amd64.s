//go:build !purego

#include "textflag.h"

// func dotRowsAVX2(y, x, q *float32, n, hd int, scale float32)
//
// y[j] = scale·Σ_d x[j·hd+d]·q[d] for j < n; hd is a multiple of 8. Each
// row sums in two 8-lane accumulators (d mod 16 < 8 and ≥ 8), then across
// lanes.
TEXT ·dotRowsAVX2(SB), NOSPLIT, $0-44
	MOVQ y+0(FP), DI
	MOVQ x+8(FP), SI
	MOVQ q+16(FP), DX
	MOVQ n+24(FP), CX
	MOVQ hd+32(FP), R8
	VMOVSS scale+40(FP), X7
	LEAQ (R8*4), R9 // a row's bytes

row:
	TESTQ CX, CX
	JZ done
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	XORQ AX, AX // d
	MOVQ R8, BX // values left in the row

d16:
	CMPQ BX, $16
	JL d8
	VMOVUPS (SI)(AX*4), Y2
	VFMADD231PS (DX)(AX*4), Y2, Y0
	VMOVUPS 32(SI)(AX*4), Y3
	VFMADD231PS 32(DX)(AX*4), Y3, Y1
	ADDQ $16, AX
	SUBQ $16, BX
	JMP d16

d8:
	TESTQ BX, BX
	JZ reduce
	VMOVUPS (SI)(AX*4), Y2
	VFMADD231PS (DX)(AX*4), Y2, Y0

reduce:
	VADDPS Y1, Y0, Y0
	VEXTRACTF128 $1, Y0, X1
	VADDPS X1, X0, X0
	VHADDPS X0, X0, X0
	VHADDPS X0, X0, X0
	VMULSS X7, X0, X0
	VMOVSS X0, (DI)
	ADDQ $4, DI
	ADDQ R9, SI
	DECQ CX
	JMP row

done:
	VZEROUPPER
	RET

// func axpyRowsAVX2(y, x, p *float32, n, hd int)
//
// y[d] += Σ_j p[j]·x[j·hd+d] for d < hd, j in order; hd is a multiple of 8.
// y stays in registers 32 (then 8) values at a time while the rows stream
// past.
TEXT ·axpyRowsAVX2(SB), NOSPLIT, $0-40
	MOVQ y+0(FP), DI
	MOVQ x+8(FP), SI
	MOVQ p+16(FP), DX
	MOVQ n+24(FP), CX
	MOVQ hd+32(FP), R8
	LEAQ (R8*4), R9 // a row's bytes
	XORQ AX, AX     // d

c32:
	MOVQ R8, BX
	SUBQ AX, BX
	CMPQ BX, $32
	JL c8
	VMOVUPS (DI)(AX*4), Y0
	VMOVUPS 32(DI)(AX*4), Y1
	VMOVUPS 64(DI)(AX*4), Y2
	VMOVUPS 96(DI)(AX*4), Y3
	LEAQ (SI)(AX*4), R10
	XORQ R11, R11

j32:
	CMPQ R11, CX
	JGE s32
	VBROADCASTSS (DX)(R11*4), Y4
	VFMADD231PS (R10), Y4, Y0
	VFMADD231PS 32(R10), Y4, Y1
	VFMADD231PS 64(R10), Y4, Y2
	VFMADD231PS 96(R10), Y4, Y3
	ADDQ R9, R10
	INCQ R11
	JMP j32

s32:
	VMOVUPS Y0, (DI)(AX*4)
	VMOVUPS Y1, 32(DI)(AX*4)
	VMOVUPS Y2, 64(DI)(AX*4)
	VMOVUPS Y3, 96(DI)(AX*4)
	ADDQ $32, AX
	JMP c32

c8:
	TESTQ BX, BX
	JZ done
	VMOVUPS (DI)(AX*4), Y0
	LEAQ (SI)(AX*4), R10
	XORQ R11, R11

j8:
	CMPQ R11, CX
	JGE s8
	VBROADCASTSS (DX)(R11*4), Y4
	VFMADD231PS (R10), Y4, Y0
	ADDQ R9, R10
	INCQ R11
	JMP j8

s8:
	VMOVUPS Y0, (DI)(AX*4)
	ADDQ $8, AX
	MOVQ R8, BX
	SUBQ AX, BX
	JMP c8

done:
	VZEROUPPER
	RET
