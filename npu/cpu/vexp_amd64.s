//go:build !purego

#include "textflag.h"
#include "vexp_amd64.h"

// func expSumAVX2(y, x *float32, n int, m float32) float64
//
// For i < n (a multiple of 8): e = exp(x[i] − m) in float32; y[i] = e when y
// is not nil; returns Σe accumulated in float64, lanes in a fixed order.
TEXT ·expSumAVX2(SB), NOSPLIT, $0-40
	MOVQ y+0(FP), DI
	MOVQ x+8(FP), SI
	MOVQ n+16(FP), CX
	VBROADCASTSS m+24(FP), Y15
	VEXP_CONSTS
	VXORPD Y6, Y6, Y6                  // sum of lanes 0–3
	VXORPD Y7, Y7, Y7                  // sum of lanes 4–7
	SHRQ $3, CX
	JZ   done

loop:
	VMOVUPS (SI), Y0
	VSUBPS  Y15, Y0, Y0             // x − m
	VEXP8(Y0, Y1, Y2, Y3, Y5)
	TESTQ   DI, DI
	JZ      nostore
	VMOVUPS Y2, (DI)
	ADDQ    $32, DI

nostore:
	VCVTPS2PD X2, Y3
	VADDPD  Y3, Y6, Y6
	VEXTRACTF128 $1, Y2, X4
	VCVTPS2PD X4, Y4
	VADDPD  Y4, Y7, Y7
	ADDQ    $32, SI
	DECQ    CX
	JNZ     loop

done:
	VADDPD  Y7, Y6, Y6
	VEXTRACTF128 $1, Y6, X7
	VADDPD  X7, X6, X6
	VHADDPD X6, X6, X6
	VZEROUPPER
	MOVSD   X6, ret+32(FP)
	RET
