// The row kernels of the 6×16 AVX2 kernel's edge tiles (gemm_amd64.s
// includes this once per type of B): R = 4, 2 or 1 rows of alpha·A·B, 16
// columns, each value's arithmetic exactly the 6-row kernel's (an FMA chain
// over k in order from zero, then one multiply by alpha), for the few rows
// of a decoding step, whose weights (packed once, PackB) stream from L3 or
// memory and which the 6-row tile would compute as six. A is k-major
// (A[i][p] at a + i + p·csa), C float32 with rows ldc apart, overwritten;
// B's rows are ldb values apart, of the type the includer names: LOADB0,
// LOADB1 and BSHIFT as gemm_kernel6_amd64.h takes them, PFB prefetches a
// row's line at DX (PFK rows ahead), and ROWS4, ROWS2 and ROWS1 name the
// kernels. k >= 1.
// (go vet cannot match a kernel named by a macro to its Go declaration;
// TestRowsKernelMatchesTile, TestRowPathsInGemmPacked and the GEMM tests
// run every argument.)

#define KSTEPR6_4 \
	PFB; \
	LOADB0(Y12); \
	LOADB1(Y13); \
	VBROADCASTSS 0(AX), Y14; \
	VFMADD231PS Y12, Y14, Y0; \
	VFMADD231PS Y13, Y14, Y1; \
	VBROADCASTSS 4(AX), Y15; \
	VFMADD231PS Y12, Y15, Y2; \
	VFMADD231PS Y13, Y15, Y3; \
	VBROADCASTSS 8(AX), Y14; \
	VFMADD231PS Y12, Y14, Y4; \
	VFMADD231PS Y13, Y14, Y5; \
	VBROADCASTSS 12(AX), Y15; \
	VFMADD231PS Y12, Y15, Y6; \
	VFMADD231PS Y13, Y15, Y7; \
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
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	VXORPS Y4, Y4, Y4
	VXORPS Y5, Y5, Y5
	VXORPS Y6, Y6, Y6
	VXORPS Y7, Y7, Y7

r6loop4:
	KSTEPR6_4
	DECQ CX
	JNZ  r6loop4
	VBROADCASTSS alpha+56(FP), Y14
	VMULPS Y14, Y0, Y0
	VMULPS Y14, Y1, Y1
	VMULPS Y14, Y2, Y2
	VMULPS Y14, Y3, Y3
	VMULPS Y14, Y4, Y4
	VMULPS Y14, Y5, Y5
	VMULPS Y14, Y6, Y6
	VMULPS Y14, Y7, Y7
	MOVQ c+40(FP), DI
	MOVQ ldc+48(FP), SI
	SHLQ $2, SI
	VMOVUPS Y0, (DI)
	VMOVUPS Y1, 32(DI)
	ADDQ    SI, DI
	VMOVUPS Y2, (DI)
	VMOVUPS Y3, 32(DI)
	ADDQ    SI, DI
	VMOVUPS Y4, (DI)
	VMOVUPS Y5, 32(DI)
	ADDQ    SI, DI
	VMOVUPS Y6, (DI)
	VMOVUPS Y7, 32(DI)
	VZEROUPPER
	RET

#undef KSTEPR6_4

#define KSTEPR6_2 \
	PFB; \
	LOADB0(Y12); \
	LOADB1(Y13); \
	VBROADCASTSS 0(AX), Y14; \
	VFMADD231PS Y12, Y14, Y0; \
	VFMADD231PS Y13, Y14, Y1; \
	VBROADCASTSS 4(AX), Y15; \
	VFMADD231PS Y12, Y15, Y2; \
	VFMADD231PS Y13, Y15, Y3; \
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
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3

r6loop2:
	KSTEPR6_2
	DECQ CX
	JNZ  r6loop2
	VBROADCASTSS alpha+56(FP), Y14
	VMULPS Y14, Y0, Y0
	VMULPS Y14, Y1, Y1
	VMULPS Y14, Y2, Y2
	VMULPS Y14, Y3, Y3
	MOVQ c+40(FP), DI
	MOVQ ldc+48(FP), SI
	SHLQ $2, SI
	VMOVUPS Y0, (DI)
	VMOVUPS Y1, 32(DI)
	ADDQ    SI, DI
	VMOVUPS Y2, (DI)
	VMOVUPS Y3, 32(DI)
	VZEROUPPER
	RET

#undef KSTEPR6_2

#define KSTEPR6_1 \
	PFB; \
	LOADB0(Y12); \
	LOADB1(Y13); \
	VBROADCASTSS 0(AX), Y14; \
	VFMADD231PS Y12, Y14, Y0; \
	VFMADD231PS Y13, Y14, Y1; \
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
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1

r6loop1:
	KSTEPR6_1
	DECQ CX
	JNZ  r6loop1
	VBROADCASTSS alpha+56(FP), Y14
	VMULPS Y14, Y0, Y0
	VMULPS Y14, Y1, Y1
	MOVQ c+40(FP), DI
	MOVQ ldc+48(FP), SI
	SHLQ $2, SI
	VMOVUPS Y0, (DI)
	VMOVUPS Y1, 32(DI)
	VZEROUPPER
	RET

#undef KSTEPR6_1
