//go:build !purego

#include "textflag.h"
#include "vexp_amd64.h"

// The GELU kernels repeat activation.go's float32 operations one for one, in
// its order and with its operands in the same places (where two NaNs meet,
// the first operand's wins, as in the compiled Go code), with no fused
// multiply-adds outside the shared exponential: their bits are exactly those
// of geluTanh (with expSumAVX2's exp) followed by the Go loops.
DATA geluc<>+0x00(SB)/4, $0x3f4c422a // geluA = 0.79788456
DATA geluc<>+0x04(SB)/4, $0x3d372713 // geluB = 0.044715
DATA geluc<>+0x08(SB)/4, $0x3ddb33b6 // geluC = 0.1070322243
DATA geluc<>+0x0c(SB)/4, $0x3f000000 // 0.5
DATA geluc<>+0x10(SB)/4, $0x40000000 // 2
GLOBL geluc<>(SB), RODATA|NOPTR, $20

// GELU_TANH sets Y2 = tanh(0.79788456·x·(1 + 0.044715·x²)) for x in Y4 as
// geluTanh does: inner = 1 + (B·x)·x; u = (2·(A·x))·inner; e = exp(u − 0);
// t = 1 − 2/(e + 1). It wants Y6 = A, Y7 = B, Y15 = 2 and VEXP_CONSTS's
// registers, and clobbers Y0, Y1, Y3 and Y5. (u − 0 is u: u is never a
// signaling NaN, so the subtraction expSum does is left out.)
#define GELU_TANH \
	VMULPS  Y7, Y4, Y0; \ // B·x
	VMULPS  Y4, Y0, Y0; \ // ·x
	VADDPS  Y9, Y0, Y0; \ // inner = 1 + …
	VMULPS  Y6, Y4, Y1; \ // A·x
	VADDPS  Y1, Y1, Y1; \ // 2·(A·x)
	VMULPS  Y0, Y1, Y0; \ // u = 2·(A·x)·inner
	VEXP8(Y0, Y1, Y2, Y3, Y5); \
	VADDPS  Y9, Y2, Y2; \ // e + 1
	VDIVPS  Y2, Y15, Y2; \ // 2/(e + 1)
	VSUBPS  Y2, Y9, Y2 // t = 1 − 2/(e + 1)

// GELU_CONSTS loads the registers GELU_TANH wants.
#define GELU_CONSTS \
	VEXP_CONSTS; \
	VBROADCASTSS geluc<>+0x00(SB), Y6; \
	VBROADCASTSS geluc<>+0x04(SB), Y7; \
	VBROADCASTSS geluc<>+0x10(SB), Y15

// func geluForwardAVX2(y, x *float32, n int)
//
// For i < n (a multiple of 8): y[i] = (x[i]·0.5)·(1 + t[i]), t as geluTanh.
TEXT ·geluForwardAVX2(SB), NOSPLIT, $0-24
	MOVQ y+0(FP), DI
	MOVQ x+8(FP), SI
	MOVQ n+16(FP), CX
	GELU_CONSTS
	SHRQ $3, CX
	JZ   fdone

floop:
	VMOVUPS (SI), Y4
	GELU_TANH
	VADDPS  Y9, Y2, Y2              // 1 + t
	VBROADCASTSS geluc<>+0x0c(SB), Y3
	VMULPS  Y3, Y4, Y4              // x·0.5
	VMULPS  Y2, Y4, Y4              // ·(1 + t)
	VMOVUPS Y4, (DI)
	ADDQ    $32, SI
	ADDQ    $32, DI
	DECQ    CX
	JNZ     floop

fdone:
	VZEROUPPER
	RET

// func geluBackwardAVX2(dx, x, dy *float32, n int)
//
// For i < n (a multiple of 8), with t as geluTanh:
// slope = A + (C·x)·x; ff = (0.5·x)·((1 − t·t)·slope) + 0.5·(1 + t);
// dx[i] = dx[i] + ff·dy[i].
TEXT ·geluBackwardAVX2(SB), NOSPLIT, $0-32
	MOVQ dx+0(FP), DI
	MOVQ x+8(FP), SI
	MOVQ dy+16(FP), DX
	MOVQ n+24(FP), CX
	GELU_CONSTS
	SHRQ $3, CX
	JZ   bdone

bloop:
	VMOVUPS (SI), Y4
	GELU_TANH
	VBROADCASTSS geluc<>+0x08(SB), Y3
	VMULPS  Y4, Y3, Y0              // C·x
	VMULPS  Y4, Y0, Y0              // ·x
	VADDPS  Y6, Y0, Y0              // slope = A + …
	VMULPS  Y2, Y2, Y1              // t·t
	VSUBPS  Y1, Y9, Y1              // 1 − t·t
	VMULPS  Y0, Y1, Y1              // ·slope
	VBROADCASTSS geluc<>+0x0c(SB), Y3
	VMULPS  Y3, Y4, Y0              // 0.5·x
	VMULPS  Y1, Y0, Y0              // ·((1 − t·t)·slope)
	VADDPS  Y9, Y2, Y2              // 1 + t
	VMULPS  Y3, Y2, Y2              // 0.5·(1 + t)
	VADDPS  Y2, Y0, Y0              // ff
	VMULPS  (DX), Y0, Y0            // ff·dy
	VMOVUPS (DI), Y1
	VADDPS  Y0, Y1, Y1              // dx + ff·dy
	VMOVUPS Y1, (DI)
	ADDQ    $32, SI
	ADDQ    $32, DX
	ADDQ    $32, DI
	DECQ    CX
	JNZ     bloop

bdone:
	VZEROUPPER
	RET
