//go:build !purego

#include "textflag.h"

// dotRowsF16/axpyRowsF16 and dotRowsBF16/axpyRowsBF16: the row kernels of
// PagedAttentionHalf (paged_half_amd64.h). fp16 widens with F16C's
// VCVTPH2PS; bf16 is the high half of a float32, so its bits are moved up.

#define LOADH(m, r) VCVTPH2PS m, r
#define DOTNAME ·dotRowsF16
#define AXPYNAME ·axpyRowsF16
#include "paged_half_amd64.h"
#undef LOADH
#undef DOTNAME
#undef AXPYNAME

#define LOADH(m, r) VPMOVZXWD m, r; VPSLLD $16, r, r
#define DOTNAME ·dotRowsBF16
#define AXPYNAME ·axpyRowsBF16
#include "paged_half_amd64.h"
