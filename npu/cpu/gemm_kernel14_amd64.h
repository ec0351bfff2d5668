// The 14×32 AVX-512 kernel (gemm_avx512_amd64.s includes this once per
// type of B): LOADB0(reg) and LOADB1(reg) read the first and last 16
// values of B's row at BX into the float32 lanes of reg (widening half
// values exactly), PFB prefetches a row's lines at DX, BSHIFT is log2 of a
// value's bytes and KERN14 names the kernel. Every type runs the same FMAs
// in the same order, so a panel of half values gives the bits float32
// gives over its widened values.
// (go vet cannot match a kernel named by a macro to its Go declaration, so
// it does not check the argument offsets here: the GEMM tests, which run
// every argument of every type's kernels bit for bit, do.)

// KSTEP14 is one k-step of the 14×32 tile: B's row of 32 values at BX
// into Z28, Z29 as float32 (LOADB0, LOADB1), then for each row r of A a broadcast of A[r] (at
// 4r(AX), A being k-major) into Z30 or Z31 and two FMAs into Z(2r), Z(2r+1);
// then A advances by R9 bytes and B by R10 bytes.
#define KSTEP14 \
	LOADB0(Z28); \
	LOADB1(Z29); \
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
	PFB; \
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

// func KERN14(tiles, k int, a *float32, csa, tsa int, b *B, ldb int, c *float32, ldc int, alpha, beta float32)
//
// Tile t (of tiles, stacked down C) reads A from a + t·tsa, A[i][p] at
// a + i + p·csa, and writes the 14 rows of C from c + 14t·ldc. Registers:
// Z0-Z27 the accumulators (row r in Z(2r), Z(2r+1)), Z28-Z29 the row of B,
// Z30-Z31 broadcasts of A; R12 tiles left, R13 this tile's A, CX k left, AX
// A, BX B, DI C, R9/R10/SI the strides of A columns, B rows and C rows in
// bytes.
TEXT KERN14(SB), NOSPLIT, $0-80
	MOVQ tiles+0(FP), R12
	MOVQ a+16(FP), R13
	MOVQ csa+24(FP), R9
	SHLQ $2, R9
	MOVQ ldb+48(FP), R10
	SHLQ $BSHIFT, R10
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

#undef KSTEP14
#undef KSTEP14PF
#undef STORE14
#undef UPDATE14
