//go:build !purego

#include "textflag.h"

// PagedAttention's row kernels (paged_rows_amd64.h) over rows of float32,
// fp16 (widened by F16C's VCVTPH2PS) and bf16 (the high half of a float32,
// its bits moved up) values.

#define LOADX(m, r) VMOVUPS m, r
#define XSIZE 4
#define XSTEP 32
#define XOFF1 32
#define XOFF2 64
#define XOFF3 96
#define DOTNAME ·dotRowsAVX2
#define AXPYNAME ·axpyRowsAVX2
#include "paged_rows_amd64.h"
#undef LOADX
#undef XSIZE
#undef XSTEP
#undef XOFF1
#undef XOFF2
#undef XOFF3
#undef DOTNAME
#undef AXPYNAME

#define XSIZE 2
#define XSTEP 16
#define XOFF1 16
#define XOFF2 32
#define XOFF3 48

#define LOADX(m, r) VCVTPH2PS m, r
#define DOTNAME ·dotRowsF16
#define AXPYNAME ·axpyRowsF16
#include "paged_rows_amd64.h"
#undef LOADX
#undef DOTNAME
#undef AXPYNAME

#define LOADX(m, r) VPMOVZXWD m, r; VPSLLD $16, r, r
#define DOTNAME ·dotRowsBF16
#define AXPYNAME ·axpyRowsBF16
#include "paged_rows_amd64.h"

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
