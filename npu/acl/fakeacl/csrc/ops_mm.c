/*
 * ops_mm.c: the cube operators (aclnnInplaceAddmm, aclnnBatchMatMul) with
 * each SoC's cubeMathType rules. Products accumulate in float32 in index
 * order (k = 0, 1, ...); the library is built with -std=c11, so the
 * compiler does not fuse them into FMAs.
 */
#include "fake.h"

enum { MM_EXACT, MM_FP16, MM_HF32 };

static const char *fk_cubename(int c) {
    switch (c) {
    case KEEP_DTYPE:
        return "KEEP_DTYPE";
    case ALLOW_FP32_DOWN_PRECISION:
        return "ALLOW_FP32_DOWN_PRECISION";
    case USE_FP16:
        return "USE_FP16";
    case USE_HF32:
        return "USE_HF32";
    default:
        return "?";
    }
}

/* fk_mm_mode: how the cube rounds the inputs. On Ascend910A the cube
 * multiplies fp16 only: FLOAT inputs need ALLOW_FP32_DOWN_PRECISION or
 * USE_FP16 and are rounded to fp16. On Ascend910B KEEP_DTYPE keeps FLOAT,
 * ALLOW_FP32_DOWN_PRECISION and USE_HF32 round to HF32, USE_FP16 to fp16.
 * FLOAT16 and BF16 inputs multiply exactly (USE_FP16 is refused for BF16). */
static int fk_mm_mode(fk_op *o, aclDataType dt, int8_t cube) {
    if (cube < KEEP_DTYPE || cube > USE_HF32)
        return fk_op_err(o, ACLNN_ERR_PARAM_INVALID, "cubeMathType %d is not KEEP_DTYPE (0), ALLOW_FP32_DOWN_PRECISION (1), "
                         "USE_FP16 (2) or USE_HF32 (3)", cube);
    if (!fk_isfloat(dt))
        return fk_op_err(o, ACLNN_ERR_PARAM_INVALID, "the inputs have dtype %s; FLOAT, FLOAT16 or BF16 expected", fk_dtname(dt));
    if (dt == ACL_BF16 && cube == USE_FP16)
        return fk_op_err(o, ACLNN_ERR_PARAM_INVALID, "cubeMathType USE_FP16 does not take BF16 inputs");
    if (dt != ACL_FLOAT)
        o->e->n[0] = MM_EXACT;
    else if (fk_g.soc == FK_SOC_910A) {
        if (cube == KEEP_DTYPE || cube == USE_HF32)
            return fk_op_err(o, ACLNN_ERR_PARAM_INVALID,
                             "%s cannot multiply FLOAT with cubeMathType %s: its cube computes in fp16; pass "
                             "ALLOW_FP32_DOWN_PRECISION or USE_FP16",
                             fk_g.socname, fk_cubename(cube));
        o->e->n[0] = MM_FP16;
    } else
        o->e->n[0] = cube == KEEP_DTYPE ? MM_EXACT : cube == USE_FP16 ? MM_FP16 : MM_HF32;
    return 0;
}

static float fk_mm_in(int mode, double x) {
    if (mode == MM_FP16)
        return (float)fk_round_fp16(x);
    if (mode == MM_HF32)
        return (float)fk_round_hf32(x);
    return (float)x;
}

/* One (M,N) product: c = alpha·(a@b) + beta·c (beta 0: c not read).
 * a (M,K), b (K,N), c (M,N) are 2-D views at element offsets ao, bo, co;
 * bt (K·N) and row (K+N) are scratch. */
static void fk_gemm(int mode, const fk_tv *a, int64_t ao, const fk_tv *b, int64_t bo, const fk_tv *c, int64_t co, int64_t M,
                    int64_t N, int64_t K, const int64_t *as, const int64_t *bs, const int64_t *cs, float alpha, float beta,
                    float *bt, float *row) {
    float *x = row + N;
    for (int64_t k = 0; k < K; k++)
        for (int64_t j = 0; j < N; j++)
            bt[k * N + j] = fk_mm_in(mode, fk_ld(b, bo + k * bs[0] + j * bs[1]));
    for (int64_t i = 0; i < M; i++) {
        for (int64_t k = 0; k < K; k++)
            x[k] = fk_mm_in(mode, fk_ld(a, ao + i * as[0] + k * as[1]));
        for (int64_t j = 0; j < N; j++)
            row[j] = 0;
        for (int64_t k = 0; k < K; k++)
            for (int64_t j = 0; j < N; j++) {
                float p = x[k] * bt[k * N + j];
                row[j] = row[j] + p;
            }
        for (int64_t j = 0; j < N; j++) {
            float r = alpha * row[j];
            if (beta != 0) {
                float s = beta * (float)fk_ld(c, co + i * cs[0] + j * cs[1]);
                r = r + s;
            }
            fk_st(c, co + i * cs[0] + j * cs[1], r);
        }
    }
}

/* BatchMatMul: tv 0 self (B,M,K), 1 mat2 (B,K,N), 2 out (B,M,N).
 * InplaceAddmm: tv 0 mat1 (M,K), 1 mat2 (K,N), 2 selfRef (M,N); f alpha, beta. */
static int k_mm(aclOpExecutor *e, fk_tv *tv, char *msg, size_t n) {
    int three = tv[0].nd == 3;
    int64_t B = three ? tv[0].dims[0] : 1, M = tv[0].dims[three], K = tv[0].dims[three + 1], N = tv[1].dims[three + 1];
    float *bt = malloc((size_t)(K * N + K + N + 1) * sizeof(float)), *row = bt + K * N;
    if (bt == NULL) {
        snprintf(msg, n, "out of host memory");
        return ACL_ERROR_RT_INTERNAL_ERROR;
    }
    for (int64_t b = 0; b < B; b++) {
        int64_t ao = three ? b * tv[0].strides[0] : 0, bo = three ? b * tv[1].strides[0] : 0,
                co = three ? b * tv[2].strides[0] : 0;
        fk_gemm((int)e->n[0], &tv[0], ao, &tv[1], bo, &tv[2], co, M, N, K, tv[0].strides + three, tv[1].strides + three,
                tv[2].strides + three, (float)e->f[0], (float)e->f[1], bt, row);
    }
    free(bt);
    return 0;
}

static int fk_mm_dtypes(fk_op *o, const aclTensor *a, const aclTensor *b, const aclTensor *c, const char *cn) {
    if (a->dt != b->dt || a->dt != c->dt)
        return fk_op_err(o, ACLNN_ERR_PARAM_INVALID, "the operands must have one dtype (%s, %s, %s %s)", fk_dtname(a->dt),
                         fk_dtname(b->dt), cn, fk_dtname(c->dt));
    return 0;
}

aclnnStatus aclnnInplaceAddmmGetWorkspaceSize(const aclTensor *selfRef, const aclTensor *mat1, const aclTensor *mat2,
                                              const aclScalar *beta, const aclScalar *alpha, int8_t cubeMathType,
                                              uint64_t *workspaceSize, aclOpExecutor **executor) {
    fk_op o;
    char b1[128], b2[128], b3[128];
    FK_TRY(fk_op_begin(&o, "aclnnInplaceAddmm", workspaceSize, executor));
    FK_TRY(fk_op_tensor(&o, 0, "mat1", mat1, false));
    FK_TRY(fk_op_tensor(&o, 1, "mat2", mat2, false));
    FK_TRY(fk_op_tensor(&o, 2, "selfRef", selfRef, false));
    FK_TRY(fk_op_scalar(&o, "alpha", alpha, &o.e->f[0], NULL));
    FK_TRY(fk_op_scalar(&o, "beta", beta, &o.e->f[1], NULL));
    FK_TRY(fk_mm_dtypes(&o, mat1, mat2, selfRef, "selfRef"));
    FK_TRY(fk_mm_mode(&o, mat1->dt, cubeMathType));
    if (mat1->nd != 2 || mat2->nd != 2 || selfRef->nd != 2 || mat1->dims[1] != mat2->dims[0] ||
        selfRef->dims[0] != mat1->dims[0] || selfRef->dims[1] != mat2->dims[1])
        return fk_op_err(&o, ACLNN_ERR_PARAM_INVALID, "shapes selfRef %s, mat1 %s, mat2 %s are not (M,N), (M,K), (K,N)",
                         fk_shapestr(selfRef, b1, sizeof b1), fk_shapestr(mat1, b2, sizeof b2), fk_shapestr(mat2, b3, sizeof b3));
    return fk_op_end(&o, k_mm, 32 + 4 * (uint64_t)fk_numel(selfRef));
}
FK_SECOND(aclnnInplaceAddmm)

aclnnStatus aclnnBatchMatMulGetWorkspaceSize(const aclTensor *self, const aclTensor *mat2, aclTensor *out, int8_t cubeMathType,
                                             uint64_t *workspaceSize, aclOpExecutor **executor) {
    fk_op o;
    char b1[128], b2[128], b3[128];
    FK_TRY(fk_op_begin(&o, "aclnnBatchMatMul", workspaceSize, executor));
    FK_TRY(fk_op_tensor(&o, 0, "self", self, false));
    FK_TRY(fk_op_tensor(&o, 1, "mat2", mat2, false));
    FK_TRY(fk_op_tensor(&o, 2, "out", out, false));
    FK_TRY(fk_mm_dtypes(&o, self, mat2, out, "out"));
    FK_TRY(fk_mm_mode(&o, self->dt, cubeMathType));
    if (self->nd != 3 || mat2->nd != 3 || out->nd != 3 || self->dims[0] != mat2->dims[0] || out->dims[0] != self->dims[0] ||
        self->dims[2] != mat2->dims[1] || out->dims[1] != self->dims[1] || out->dims[2] != mat2->dims[2])
        return fk_op_err(&o, ACLNN_ERR_PARAM_INVALID, "shapes self %s, mat2 %s, out %s are not (B,M,K), (B,K,N), (B,M,N)",
                         fk_shapestr(self, b1, sizeof b1), fk_shapestr(mat2, b2, sizeof b2), fk_shapestr(out, b3, sizeof b3));
    o.e->f[0] = 1;
    o.e->f[1] = 0;
    return fk_op_end(&o, k_mm, 32 + 4 * (uint64_t)fk_numel(out));
}
FK_SECOND(aclnnBatchMatMul)
