// The row kernels of PagedAttention (paged_amd64.s includes this once per
// type of x): LOADX(mem, reg) reads 8 values of x at mem into the float32
// lanes of reg (widening half values exactly), XSIZE is a value's bytes,
// XSTEP 8 values' and XOFF1-3 one to three times XSTEP; DOTNAME and
// AXPYNAME name the kernels. Every type runs the same FMAs in the same
// order, so half rows give the bits float32 rows give over their widened
// values.

// DOTNAME(y *float32, x *X, q *float32, n, hd int, scale float32)
//
// y[j] = scale·Σ_d x[j·hd+d]·q[d] for j < n; hd is a multiple of 8. Rows go
// 8 at a time: one 8-lane accumulator each (lane l sums d ≡ l mod 8), then
// a transposing reduction adds each row's lanes (pairs, then quads, then
// the two halves) into one vector of 8 sums. The rows left over go one at
// a time, their lanes added in the same order.
TEXT DOTNAME(SB), NOSPLIT, $0-44
	MOVQ y+0(FP), DI
	MOVQ x+8(FP), SI
	MOVQ q+16(FP), DX
	MOVQ n+24(FP), CX
	MOVQ hd+32(FP), R8
	VBROADCASTSS scale+40(FP), Y15
	LEAQ (R8*XSIZE), R9   // a row's bytes
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
	LOADX((R11), Y9)
	VFMADD231PS Y9, Y8, Y0
	LOADX((R11)(R9*1), Y9)
	VFMADD231PS Y9, Y8, Y1
	LOADX((R11)(R9*2), Y9)
	VFMADD231PS Y9, Y8, Y2
	LOADX((R11)(R12*1), Y9)
	VFMADD231PS Y9, Y8, Y3
	LOADX((R13), Y9)
	VFMADD231PS Y9, Y8, Y4
	LOADX((R13)(R9*1), Y9)
	VFMADD231PS Y9, Y8, Y5
	LOADX((R13)(R9*2), Y9)
	VFMADD231PS Y9, Y8, Y6
	LOADX((R13)(R12*1), Y9)
	VFMADD231PS Y9, Y8, Y7
	ADDQ $XSTEP, R11
	ADDQ $XSTEP, R13
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
	LOADX((R11), Y9)
	VFMADD231PS Y9, Y8, Y0
	ADDQ $XSTEP, R11
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


// AXPYNAME(y *float32, x *X, p *float32, n, hd int)
//
// y[d] += Σ_j p[j]·x[j·hd+d] for d < hd; hd is a multiple of 8. y stays in
// registers 32 (then 8) values at a time while the rows stream past, the
// even rows into one set of accumulators and the odd ones into another
// (two chains of FMAs), which are added at the end: y + Σ even + Σ odd.
TEXT AXPYNAME(SB), NOSPLIT, $0-40
	MOVQ y+0(FP), DI
	MOVQ x+8(FP), SI
	MOVQ p+16(FP), DX
	MOVQ n+24(FP), CX
	MOVQ hd+32(FP), R8
	LEAQ (R8*XSIZE), R9 // a row's bytes
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
	LEAQ (SI)(AX*XSIZE), R10
	XORQ R11, R11

j32pair:
	LEAQ 1(R11), R12
	CMPQ R12, CX
	JGE  j32one
	VBROADCASTSS (DX)(R11*4), Y8
	VBROADCASTSS 4(DX)(R11*4), Y9
	LOADX((R10), Y10)
	VFMADD231PS Y10, Y8, Y0
	LOADX(XOFF1(R10), Y10)
	VFMADD231PS Y10, Y8, Y1
	LOADX(XOFF2(R10), Y10)
	VFMADD231PS Y10, Y8, Y2
	LOADX(XOFF3(R10), Y10)
	VFMADD231PS Y10, Y8, Y3
	LOADX((R10)(R9*1), Y10)
	VFMADD231PS Y10, Y9, Y4
	LOADX(XOFF1(R10)(R9*1), Y10)
	VFMADD231PS Y10, Y9, Y5
	LOADX(XOFF2(R10)(R9*1), Y10)
	VFMADD231PS Y10, Y9, Y6
	LOADX(XOFF3(R10)(R9*1), Y10)
	VFMADD231PS Y10, Y9, Y7
	LEAQ (R10)(R9*2), R10
	ADDQ $2, R11
	JMP  j32pair

j32one:
	CMPQ R11, CX
	JGE  s32
	VBROADCASTSS (DX)(R11*4), Y8
	LOADX((R10), Y10)
	VFMADD231PS Y10, Y8, Y0
	LOADX(XOFF1(R10), Y10)
	VFMADD231PS Y10, Y8, Y1
	LOADX(XOFF2(R10), Y10)
	VFMADD231PS Y10, Y8, Y2
	LOADX(XOFF3(R10), Y10)
	VFMADD231PS Y10, Y8, Y3

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
	LEAQ (SI)(AX*XSIZE), R10
	XORQ R11, R11

j8pair:
	LEAQ 1(R11), R12
	CMPQ R12, CX
	JGE  j8one
	VBROADCASTSS (DX)(R11*4), Y8
	VBROADCASTSS 4(DX)(R11*4), Y9
	LOADX((R10), Y10)
	VFMADD231PS Y10, Y8, Y0
	LOADX((R10)(R9*1), Y10)
	VFMADD231PS Y10, Y9, Y4
	LEAQ (R10)(R9*2), R10
	ADDQ $2, R11
	JMP  j8pair

j8one:
	CMPQ R11, CX
	JGE  s8
	VBROADCASTSS (DX)(R11*4), Y8
	LOADX((R10), Y10)
	VFMADD231PS Y10, Y8, Y0

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

