// The row kernels of the 14×32 AVX-512 kernel's edge tiles
// (gemm_rows_amd64.s includes this once per type of B): R = 4, 2 or 1 rows
// of alpha·A·B, 32 columns, each value's arithmetic exactly the 14-row
// kernel's (an FMA chain over k in order from zero, then one multiply by
// alpha). A is k-major float32 (A[i][p] at a + i + p·csa), C float32 with
// rows ldc apart, overwritten; B's rows are ldb values apart, of the type
// the includer names: LOADB0(reg) and LOADB1(reg) read a row's first and
// last 16 values at BX into the float32 lanes of reg (widening half values
// exactly), PFB prefetches a row's lines at DX, BSHIFT is log2 of a value's
// bytes, and ROWS4, ROWS2 and ROWS1 name the kernels. Every type runs the
// same FMAs in the same order, so half rows of B give the bits float32 rows
// give over their widened values. k >= 1.
// (go vet cannot match a kernel named by a macro to its Go declaration, so
// it does not check the argument offsets here: the GEMM tests, which run
// every argument of every type's kernels bit for bit, do.)

#define KSTEPR4 \
	PFB; \
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
	ADDQ R9, AX; \
	ADDQ R10, DX; \
	ADDQ R10, BX

// func ROWS4(k int, a *float32, csa int, b *B, ldb int, c *float32, ldc int, alpha float32)
TEXT ROWS4(SB), NOSPLIT, $0-60
	MOVQ k+0(FP), CX
	MOVQ a+8(FP), AX
	MOVQ csa+16(FP), R9
	SHLQ $2, R9
	MOVQ b+24(FP), BX
	MOVQ ldb+32(FP), R10
	SHLQ $BSHIFT, R10
	PFSTART
	MOVQ c+40(FP), DI
	MOVQ ldc+48(FP), SI
	SHLQ $2, SI
	VPXORD Z0, Z0, Z0
	VPXORD Z1, Z1, Z1
	VPXORD Z2, Z2, Z2
	VPXORD Z3, Z3, Z3
	VPXORD Z4, Z4, Z4
	VPXORD Z5, Z5, Z5
	VPXORD Z6, Z6, Z6
	VPXORD Z7, Z7, Z7

rows4loop:
	KSTEPR4
	DECQ CX
	JNZ  rows4loop

	VBROADCASTSS alpha+56(FP), Z30
	VMULPS Z30, Z0, Z0
	VMULPS Z30, Z1, Z1
	VMULPS Z30, Z2, Z2
	VMULPS Z30, Z3, Z3
	VMULPS Z30, Z4, Z4
	VMULPS Z30, Z5, Z5
	VMULPS Z30, Z6, Z6
	VMULPS Z30, Z7, Z7
	VMOVUPS Z0, (DI)
	VMOVUPS Z1, 64(DI)
	ADDQ SI, DI
	VMOVUPS Z2, (DI)
	VMOVUPS Z3, 64(DI)
	ADDQ SI, DI
	VMOVUPS Z4, (DI)
	VMOVUPS Z5, 64(DI)
	ADDQ SI, DI
	VMOVUPS Z6, (DI)
	VMOVUPS Z7, 64(DI)
	VZEROUPPER
	RET

#define KSTEPR2 \
	PFB; \
	LOADB0(Z28); \
	LOADB1(Z29); \
	VBROADCASTSS 0(AX), Z30; \
	VFMADD231PS Z28, Z30, Z0; \
	VFMADD231PS Z29, Z30, Z1; \
	VBROADCASTSS 4(AX), Z31; \
	VFMADD231PS Z28, Z31, Z2; \
	VFMADD231PS Z29, Z31, Z3; \
	ADDQ R9, AX; \
	ADDQ R10, DX; \
	ADDQ R10, BX

// func ROWS2(k int, a *float32, csa int, b *B, ldb int, c *float32, ldc int, alpha float32)
TEXT ROWS2(SB), NOSPLIT, $0-60
	MOVQ k+0(FP), CX
	MOVQ a+8(FP), AX
	MOVQ csa+16(FP), R9
	SHLQ $2, R9
	MOVQ b+24(FP), BX
	MOVQ ldb+32(FP), R10
	SHLQ $BSHIFT, R10
	PFSTART
	MOVQ c+40(FP), DI
	MOVQ ldc+48(FP), SI
	SHLQ $2, SI
	VPXORD Z0, Z0, Z0
	VPXORD Z1, Z1, Z1
	VPXORD Z2, Z2, Z2
	VPXORD Z3, Z3, Z3

rows2loop:
	KSTEPR2
	DECQ CX
	JNZ  rows2loop

	VBROADCASTSS alpha+56(FP), Z30
	VMULPS Z30, Z0, Z0
	VMULPS Z30, Z1, Z1
	VMULPS Z30, Z2, Z2
	VMULPS Z30, Z3, Z3
	VMOVUPS Z0, (DI)
	VMOVUPS Z1, 64(DI)
	ADDQ SI, DI
	VMOVUPS Z2, (DI)
	VMOVUPS Z3, 64(DI)
	VZEROUPPER
	RET

#define KSTEPR1 \
	PFB; \
	LOADB0(Z28); \
	LOADB1(Z29); \
	VBROADCASTSS 0(AX), Z30; \
	VFMADD231PS Z28, Z30, Z0; \
	VFMADD231PS Z29, Z30, Z1; \
	ADDQ R9, AX; \
	ADDQ R10, DX; \
	ADDQ R10, BX

// func ROWS1(k int, a *float32, csa int, b *B, ldb int, c *float32, ldc int, alpha float32)
TEXT ROWS1(SB), NOSPLIT, $0-60
	MOVQ k+0(FP), CX
	MOVQ a+8(FP), AX
	MOVQ csa+16(FP), R9
	SHLQ $2, R9
	MOVQ b+24(FP), BX
	MOVQ ldb+32(FP), R10
	SHLQ $BSHIFT, R10
	PFSTART
	MOVQ c+40(FP), DI
	MOVQ ldc+48(FP), SI
	SHLQ $2, SI
	VPXORD Z0, Z0, Z0
	VPXORD Z1, Z1, Z1

rows1loop:
	KSTEPR1
	DECQ CX
	JNZ  rows1loop

	VBROADCASTSS alpha+56(FP), Z30
	VMULPS Z30, Z0, Z0
	VMULPS Z30, Z1, Z1
	VMOVUPS Z0, (DI)
	VMOVUPS Z1, 64(DI)
	VZEROUPPER
	RET

#undef KSTEPR4
#undef KSTEPR2
#undef KSTEPR1
