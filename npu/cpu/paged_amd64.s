//go:build !purego

#include "textflag.h"

// func dotRowsAVX2(y, x, q *float32, n, hd int, scale float32)
//
// y[j] = scale·Σ_d x[j·hd+d]·q[d] for j < n; hd is a multiple of 8. Rows go
// 8 at a time: one 8-lane accumulator each (lane l sums d ≡ l mod 8), then
// a transposing reduction adds each row's lanes (pairs, then quads, then
// the two halves) into one vector of 8 sums. The rows left over go one at
// a time, their lanes added in the same order.
TEXT ·dotRowsAVX2(SB), NOSPLIT, $0-44
	MOVQ y+0(FP), DI
	MOVQ x+8(FP), SI
	MOVQ q+16(FP), DX
	MOVQ n+24(FP), CX
	MOVQ hd+32(FP), R8
	VBROADCASTSS scale+40(FP), Y15
	LEAQ (R8*4), R9   // a row's bytes
	LEAQ (R9)(R9*2), R12 // three rows' bytes

rows8:
	CMPQ CX, $8
	JL   row
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	VXORPS Y4, Y4, Y4
	VXORPS Y5, Y5, Y5
	VXORPS Y6, Y6, Y6
	VXORPS Y7, Y7, Y7
	MOVQ SI, R11          // rows 0-3 at column d
	LEAQ (SI)(R9*4), R13  // rows 4-7 at column d
	MOVQ DX, R14          // q at column d
	MOVQ R8, BX           // columns left

cols8:
	VMOVUPS (R14), Y8
	VFMADD231PS (R11), Y8, Y0
	VFMADD231PS (R11)(R9*1), Y8, Y1
	VFMADD231PS (R11)(R9*2), Y8, Y2
	VFMADD231PS (R11)(R12*1), Y8, Y3
	VFMADD231PS (R13), Y8, Y4
	VFMADD231PS (R13)(R9*1), Y8, Y5
	VFMADD231PS (R13)(R9*2), Y8, Y6
	VFMADD231PS (R13)(R12*1), Y8, Y7
	ADDQ $32, R11
	ADDQ $32, R13
	ADDQ $32, R14
	SUBQ $8, BX
	JNZ  cols8

	VHADDPS Y1, Y0, Y0  // pairs of rows 0,1
	VHADDPS Y3, Y2, Y2  // 2,3
	VHADDPS Y5, Y4, Y4  // 4,5
	VHADDPS Y7, Y6, Y6  // 6,7
	VHADDPS Y2, Y0, Y0  // quads of rows 0-3, per 128-bit half
	VHADDPS Y6, Y4, Y4  // 4-7
	VPERM2F128 $0x20, Y4, Y0, Y1 // low halves
	VPERM2F128 $0x31, Y4, Y0, Y2 // high halves
	VADDPS  Y2, Y1, Y1
	VMULPS  Y15, Y1, Y1
	VMOVUPS Y1, (DI)
	ADDQ $32, DI
	LEAQ (SI)(R9*8), SI
	SUBQ $8, CX
	JMP  rows8

row:
	TESTQ CX, CX
	JZ    done
	VXORPS Y0, Y0, Y0
	MOVQ SI, R11
	MOVQ DX, R14
	MOVQ R8, BX

col:
	VMOVUPS (R14), Y8
	VFMADD231PS (R11), Y8, Y0
	ADDQ $32, R11
	ADDQ $32, R14
	SUBQ $8, BX
	JNZ  col

	VHADDPS Y0, Y0, Y0
	VHADDPS Y0, Y0, Y0
	VEXTRACTF128 $1, Y0, X1
	VADDPS  X1, X0, X0
	VMULSS  X15, X0, X0
	VMOVSS  X0, (DI)
	ADDQ $4, DI
	ADDQ R9, SI
	DECQ CX
	JMP  row

done:
	VZEROUPPER
	RET

// func axpyRowsAVX2(y, x, p *float32, n, hd int)
//
// y[d] += Σ_j p[j]·x[j·hd+d] for d < hd; hd is a multiple of 8. y stays in
// registers 32 (then 8) values at a time while the rows stream past, the
// even rows into one set of accumulators and the odd ones into another
// (two chains of FMAs), which are added at the end: y + Σ even + Σ odd.
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
	JL   c8
	VMOVUPS (DI)(AX*4), Y0
	VMOVUPS 32(DI)(AX*4), Y1
	VMOVUPS 64(DI)(AX*4), Y2
	VMOVUPS 96(DI)(AX*4), Y3
	VXORPS Y4, Y4, Y4
	VXORPS Y5, Y5, Y5
	VXORPS Y6, Y6, Y6
	VXORPS Y7, Y7, Y7
	LEAQ (SI)(AX*4), R10
	XORQ R11, R11

j32pair:
	LEAQ 1(R11), R12
	CMPQ R12, CX
	JGE  j32one
	VBROADCASTSS (DX)(R11*4), Y8
	VBROADCASTSS 4(DX)(R11*4), Y9
	VFMADD231PS (R10), Y8, Y0
	VFMADD231PS 32(R10), Y8, Y1
	VFMADD231PS 64(R10), Y8, Y2
	VFMADD231PS 96(R10), Y8, Y3
	VFMADD231PS (R10)(R9*1), Y9, Y4
	VFMADD231PS 32(R10)(R9*1), Y9, Y5
	VFMADD231PS 64(R10)(R9*1), Y9, Y6
	VFMADD231PS 96(R10)(R9*1), Y9, Y7
	LEAQ (R10)(R9*2), R10
	ADDQ $2, R11
	JMP  j32pair

j32one:
	CMPQ R11, CX
	JGE  s32
	VBROADCASTSS (DX)(R11*4), Y8
	VFMADD231PS (R10), Y8, Y0
	VFMADD231PS 32(R10), Y8, Y1
	VFMADD231PS 64(R10), Y8, Y2
	VFMADD231PS 96(R10), Y8, Y3

s32:
	VADDPS Y4, Y0, Y0
	VADDPS Y5, Y1, Y1
	VADDPS Y6, Y2, Y2
	VADDPS Y7, Y3, Y3
	VMOVUPS Y0, (DI)(AX*4)
	VMOVUPS Y1, 32(DI)(AX*4)
	VMOVUPS Y2, 64(DI)(AX*4)
	VMOVUPS Y3, 96(DI)(AX*4)
	ADDQ $32, AX
	JMP  c32

c8:
	TESTQ BX, BX
	JZ    done
	VMOVUPS (DI)(AX*4), Y0
	VXORPS Y4, Y4, Y4
	LEAQ (SI)(AX*4), R10
	XORQ R11, R11

j8pair:
	LEAQ 1(R11), R12
	CMPQ R12, CX
	JGE  j8one
	VBROADCASTSS (DX)(R11*4), Y8
	VBROADCASTSS 4(DX)(R11*4), Y9
	VFMADD231PS (R10), Y8, Y0
	VFMADD231PS (R10)(R9*1), Y9, Y4
	LEAQ (R10)(R9*2), R10
	ADDQ $2, R11
	JMP  j8pair

j8one:
	CMPQ R11, CX
	JGE  s8
	VBROADCASTSS (DX)(R11*4), Y8
	VFMADD231PS (R10), Y8, Y0

s8:
	VADDPS Y4, Y0, Y0
	VMOVUPS Y0, (DI)(AX*4)
	ADDQ $8, AX
	MOVQ R8, BX
	SUBQ AX, BX
	JMP  c8

done:
	VZEROUPPER
	RET

// func prefetchLines(x *float32, n int)
//
// Asks for the cache lines of the n floats at x (n > 0), one PREFETCHT0
// per 64 bytes.
TEXT ·prefetchLines(SB), NOSPLIT, $0-16
	MOVQ x+0(FP), SI
	MOVQ n+8(FP), CX
	LEAQ (SI)(CX*4), CX // the end

line:
	PREFETCHT0 (SI)
	ADDQ $64, SI
	CMPQ SI, CX
	JLT  line
	RET
