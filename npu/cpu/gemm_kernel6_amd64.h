// The 6×16 AVX2 kernel (gemm_amd64.s includes this once per type of B):
// LOADB0(reg) and LOADB1(reg) read the first and last 8 values of B's row at
// BX into the float32 lanes of reg (widening half values exactly), BSHIFT is
// log2 of a value's bytes and KERN6 names the kernel. Every type runs the
// same FMAs in the same order, so a panel of half values gives the bits
// float32 gives over its widened values. (go vet cannot match a kernel named
// by a macro to its Go declaration, so it does not check the argument
// offsets here: the GEMM tests, which run every argument of every type's
// kernel bit for bit, do.)

// KSTEP is one k-step of the 6×16 tile: B's row of 16 values at BX into Y12,
// Y13 as float32 (LOADB0, LOADB1), six
// broadcasts of A (rows 0-2 at AX + r·R8, rows 3-5 at DX + r·R8), twelve FMAs
// into Y0..Y11 (row r in Y(2r), Y(2r+1)), then A advances by R9 bytes and B by
// R10 bytes.
#define KSTEP \
	LOADB0(Y12);                    \
	LOADB1(Y13);                    \
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

// func KERN6(tiles, k int, a *float32, rsa, csa, tsa int, b *B, ldb int, c *float32, ldc int, alpha, beta float32)
//
// Tile t (of tiles, stacked down C) reads A from a + t·tsa and writes the six
// rows of C from c + 6t·ldc. Registers: R12 tiles left, R13 this tile's A,
// CX k left, AX/DX A rows 0-2/3-5, BX B, DI C, R8/R9/R10/SI the strides of
// A rows, A columns, B rows and C rows in bytes.
TEXT KERN6(SB), NOSPLIT, $0-88
	MOVQ tiles+0(FP), R12
	MOVQ a+16(FP), R13
	MOVQ rsa+24(FP), R8
	SHLQ $2, R8
	MOVQ csa+32(FP), R9
	SHLQ $2, R9
	MOVQ ldb+56(FP), R10
	SHLQ $BSHIFT, R10
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

#undef KSTEP
#undef STORE
#undef UPDATE
