//go:build !purego

#include "textflag.h"

// func addAVX2(y, x *float32, n int)
//
// y[i] += x[i] for i < n, n a multiple of 8: float32 additions, each
// rounded once, as the Go loop's.
TEXT ·addAVX2(SB), NOSPLIT, $0-24
	MOVQ y+0(FP), DI
	MOVQ x+8(FP), SI
	MOVQ n+16(FP), CX

loop32:
	CMPQ CX, $32
	JL   loop8
	VMOVUPS (DI), Y0
	VMOVUPS 32(DI), Y1
	VMOVUPS 64(DI), Y2
	VMOVUPS 96(DI), Y3
	VADDPS  (SI), Y0, Y0
	VADDPS  32(SI), Y1, Y1
	VADDPS  64(SI), Y2, Y2
	VADDPS  96(SI), Y3, Y3
	VMOVUPS Y0, (DI)
	VMOVUPS Y1, 32(DI)
	VMOVUPS Y2, 64(DI)
	VMOVUPS Y3, 96(DI)
	ADDQ    $128, DI
	ADDQ    $128, SI
	SUBQ    $32, CX
	JMP     loop32

loop8:
	TESTQ CX, CX
	JZ    done
	VMOVUPS (DI), Y0
	VADDPS  (SI), Y0, Y0
	VMOVUPS Y0, (DI)
	ADDQ    $32, DI
	ADDQ    $32, SI
	SUBQ    $8, CX
	JMP     loop8

done:
	VZEROUPPER
	RET

// func alibiMaxAVX2(pr, pos *float32, n int, slope float32) (m float32, nan bool)
//
// pr[j] += slope·pos[j] for j < n (n a multiple of 8; a float32 product,
// then a float32 sum, as the Go loop rounds them) and returns the largest
// pr[j], and whether one is NaN (Go's max would return NaN then).
TEXT ·alibiMaxAVX2(SB), NOSPLIT, $0-37
	MOVQ pr+0(FP), DI
	MOVQ pos+8(FP), SI
	MOVQ n+16(FP), CX
	VBROADCASTSS slope+24(FP), Y7
	MOVL $0xff800000, AX // −Inf
	MOVQ AX, X6
	VBROADCASTSS X6, Y6  // the running maximum
	VXORPS Y5, Y5, Y5    // NaN lanes seen

amloop:
	TESTQ CX, CX
	JZ    amdone
	VMOVUPS (SI), Y0
	VMULPS  Y7, Y0, Y0    // slope·pos
	VMOVUPS (DI), Y1
	VADDPS  Y0, Y1, Y1    // pr + slope·pos
	VMOVUPS Y1, (DI)
	VCMPPS  $3, Y1, Y1, Y2 // unordered: NaN
	VORPS   Y2, Y5, Y5
	VMAXPS  Y6, Y1, Y6
	ADDQ    $32, DI
	ADDQ    $32, SI
	SUBQ    $8, CX
	JMP     amloop

amdone:
	VEXTRACTF128 $1, Y6, X0
	VMAXPS  X0, X6, X6
	VPERMILPS $0x4e, X6, X0
	VMAXPS  X0, X6, X6
	VPERMILPS $0xb1, X6, X0
	VMAXPS  X0, X6, X6
	MOVSS   X6, m+32(FP)
	VMOVMSKPS Y5, AX
	TESTL   AX, AX
	SETNE   nan+36(FP)
	VZEROUPPER
	RET

// func scaleF64AVX2(x *float32, n int, s float64)
//
// x[j] = float32(float64(x[j])·s) for j < n, n a multiple of 8: widened
// exactly, multiplied in float64, rounded to nearest once.
TEXT ·scaleF64AVX2(SB), NOSPLIT, $0-24
	MOVQ x+0(FP), DI
	MOVQ n+8(FP), CX
	VBROADCASTSD s+16(FP), Y7

sfloop:
	TESTQ CX, CX
	JZ    sfdone
	VCVTPS2PD (DI), Y0
	VCVTPS2PD 16(DI), Y1
	VMULPD  Y7, Y0, Y0
	VMULPD  Y7, Y1, Y1
	VCVTPD2PSY Y0, X0
	VCVTPD2PSY Y1, X1
	VMOVUPS X0, (DI)
	VMOVUPS X1, 16(DI)
	ADDQ    $32, DI
	SUBQ    $8, CX
	JMP     sfloop

sfdone:
	VZEROUPPER
	RET
