/*
 * ops_misc.c: embedding, its dense backward, and AdamW.
 */
#include "fake.h"

/* tv 0 weight (V,E), 1 indices, 2 out (indices..., E). A negative index
 * fails the stream; one >= V gives a row of garbage, as the documentation
 * says the device does. */
static int k_embedding(aclOpExecutor *e, fk_tv *tv, char *msg, size_t n) {
    (void)e;
    int64_t V = tv[0].dims[0], E = tv[0].dims[1];
    fk_tv rows = tv[2], cols = tv[2];
    rows.nd = tv[2].nd - 1;
    rows.numel = tv[1].numel;
    cols.nd = 1;
    cols.dims[0] = E;
    cols.strides[0] = tv[2].strides[tv[2].nd - 1];
    size_t es = fk_esize(tv[2].dt);
    for (int64_t i = 0; i < tv[1].numel; i++) {
        int64_t id = (int64_t)fk_ld(&tv[1], fk_off(&tv[1], i)), ro = fk_off(&rows, i);
        if (id < 0) {
            snprintf(msg, n, "indices[%lld] = %lld is negative", (long long)i, (long long)id);
            return ACL_ERROR_RT_AICORE_EXCEPTION;
        }
        for (int64_t j = 0; j < E; j++) {
            int64_t oo = ro + j * cols.strides[0];
            if (id >= V)
                memset(tv[2].p + oo * (int64_t)es, FK_EMB_GARBAGE, es);
            else
                fk_st(&tv[2], oo, fk_ld(&tv[0], id * tv[0].strides[0] + j * tv[0].strides[1]));
        }
    }
    return 0;
}

static int fk_index_arg(fk_op *o, const char *arg, const aclTensor *t) {
    if (t->dt != ACL_INT32 && t->dt != ACL_INT64)
        return fk_op_err(o, ACLNN_ERR_PARAM_INVALID, "%s has dtype %s; INT32 or INT64 expected", arg, fk_dtname(t->dt));
    if (t->nd >= FK_MAXDIM)
        return fk_op_err(o, ACLNN_ERR_PARAM_INVALID, "%s has %d dimensions; at most %d", arg, t->nd, FK_MAXDIM - 1);
    return 0;
}

/* fk_rowshape: indices' shape followed by E. */
static int fk_rowshape(const aclTensor *idx, int64_t E, int64_t *dims) {
    for (int d = 0; d < idx->nd; d++)
        dims[d] = idx->dims[d];
    dims[idx->nd] = E;
    return idx->nd + 1;
}

aclnnStatus aclnnEmbeddingGetWorkspaceSize(const aclTensor *weight, const aclTensor *indices, const aclTensor *out,
                                           uint64_t *workspaceSize, aclOpExecutor **executor) {
    fk_op o;
    int64_t dims[FK_MAXDIM];
    char b1[128], b2[128], b3[128];
    FK_TRY(fk_op_begin(&o, "aclnnEmbedding", workspaceSize, executor));
    FK_TRY(fk_op_tensor(&o, 0, "weight", weight, false));
    FK_TRY(fk_op_tensor(&o, 1, "indices", indices, false));
    FK_TRY(fk_op_tensor(&o, 2, "out", out, false));
    FK_TRY(fk_index_arg(&o, "indices", indices));
    if (weight->nd != 2)
        return fk_op_err(&o, ACLNN_ERR_PARAM_INVALID, "weight %s is not 2-D", fk_shapestr(weight, b1, sizeof b1));
    if (!fk_isfloat(weight->dt) || out->dt != weight->dt)
        return fk_op_err(&o, ACLNN_ERR_PARAM_INVALID, "weight (%s) and out (%s) must have one float dtype",
                         fk_dtname(weight->dt), fk_dtname(out->dt));
    int nd = fk_rowshape(indices, weight->dims[1], dims);
    if (!fk_dimsare(out, dims, nd))
        return fk_op_err(&o, ACLNN_ERR_PARAM_INVALID, "out %s is not indices %s followed by weight's %lld columns (weight %s)",
                         fk_shapestr(out, b1, sizeof b1), fk_shapestr(indices, b2, sizeof b2), (long long)weight->dims[1],
                         fk_shapestr(weight, b3, sizeof b3));
    return fk_op_end(&o, k_embedding, 0);
}
FK_SECOND(aclnnEmbedding)

/* tv 0 grad (indices..., E), 1 indices, 2 out (numWeights, E); n[0]
 * numWeights, n[1] paddingIdx, b[0] scaleGradByFreq. Rows are added in
 * index order. */
static int k_embedding_back(aclOpExecutor *e, fk_tv *tv, char *msg, size_t n) {
    int64_t W = e->n[0], E = tv[2].dims[1];
    uint64_t pad = (uint64_t)e->n[1];
    double *acc = calloc((size_t)(W * E + W + 1), sizeof(double)), *cnt = acc + W * E;
    if (acc == NULL) {
        snprintf(msg, n, "out of host memory");
        return ACL_ERROR_RT_INTERNAL_ERROR;
    }
    fk_tv rows = tv[0];
    rows.nd = tv[0].nd - 1;
    int64_t gs = tv[0].strides[tv[0].nd - 1];
    for (int pass = 0; pass < 2; pass++)
        for (int64_t i = 0; i < tv[1].numel; i++) {
            int64_t id = (int64_t)fk_ld(&tv[1], fk_off(&tv[1], i));
            if (id < 0 || id >= W) {
                free(acc);
                snprintf(msg, n, "indices[%lld] = %lld is outside [0, numWeights = %lld)", (long long)i, (long long)id,
                         (long long)W);
                return ACL_ERROR_RT_AICORE_EXCEPTION;
            }
            if ((uint64_t)id == pad)
                continue;
            if (pass == 0) {
                cnt[id] += 1;
                continue;
            }
            int64_t ro = fk_off(&rows, i);
            double s = e->b[0] ? 1 / cnt[id] : 1;
            for (int64_t j = 0; j < E; j++)
                acc[id * E + j] += s * fk_ld(&tv[0], ro + j * gs);
        }
    for (int64_t r = 0; r < W; r++)
        for (int64_t j = 0; j < E; j++)
            fk_st(&tv[2], r * tv[2].strides[0] + j * tv[2].strides[1], acc[r * E + j]);
    free(acc);
    return 0;
}

aclnnStatus aclnnEmbeddingDenseBackwardGetWorkspaceSize(const aclTensor *grad, const aclTensor *indices, uint64_t numWeights,
                                                        uint64_t paddingIdx, bool scaleGradByFreq, const aclTensor *out,
                                                        uint64_t *workspaceSize, aclOpExecutor **executor) {
    fk_op o;
    int64_t dims[FK_MAXDIM];
    char b1[128], b2[128];
    FK_TRY(fk_op_begin(&o, "aclnnEmbeddingDenseBackward", workspaceSize, executor));
    FK_TRY(fk_op_tensor(&o, 0, "grad", grad, false));
    FK_TRY(fk_op_tensor(&o, 1, "indices", indices, false));
    FK_TRY(fk_op_tensor(&o, 2, "out", out, false));
    if (!fk_cur->deterministic)
        return fk_op_err(&o, ACLNN_ERR_PARAM_INVALID,
                         "this operator is not deterministic by default; set ACL_OPT_DETERMINISTIC to 1 on this context "
                         "(aclrtCtxSetSysParamOpt) first");
    FK_TRY(fk_index_arg(&o, "indices", indices));
    if (!fk_isfloat(grad->dt) || out->dt != grad->dt)
        return fk_op_err(&o, ACLNN_ERR_PARAM_INVALID, "grad (%s) and out (%s) must have one float dtype", fk_dtname(grad->dt),
                         fk_dtname(out->dt));
    if (grad->nd < 1)
        return fk_op_err(&o, ACLNN_ERR_PARAM_INVALID, "grad is 0-D");
    int64_t E = grad->dims[grad->nd - 1];
    int nd = fk_rowshape(indices, E, dims);
    if (!fk_dimsare(grad, dims, nd))
        return fk_op_err(&o, ACLNN_ERR_PARAM_INVALID, "grad %s is not indices %s followed by one more dimension",
                         fk_shapestr(grad, b1, sizeof b1), fk_shapestr(indices, b2, sizeof b2));
    if (numWeights == 0 || numWeights > (uint64_t)1 << 40)
        return fk_op_err(&o, ACLNN_ERR_PARAM_INVALID, "numWeights %llu is out of range", (unsigned long long)numWeights);
    int64_t od[2] = {(int64_t)numWeights, E};
    if (!fk_dimsare(out, od, 2))
        return fk_op_err(&o, ACLNN_ERR_PARAM_INVALID, "out %s is not (numWeights, E) = (%lld,%lld)",
                         fk_shapestr(out, b1, sizeof b1), (long long)numWeights, (long long)E);
    o.e->n[0] = (int64_t)numWeights;
    o.e->n[1] = (int64_t)paddingIdx;
    o.e->b[0] = scaleGradByFreq;
    return fk_op_end(&o, k_embedding_back, 32 + 4 * (uint64_t)fk_numel(out));
}
FK_SECOND(aclnnEmbeddingDenseBackward)

/* AdamW as torch.optim.AdamW's single-tensor path computes it, in float32
 * per element; the bias corrections in double from the float arguments.
 * tv 0 var, 1 m, 2 v, 3 maxGradNorm (amsgrad), 4 grad, 5 step. */
static int k_adamw(aclOpExecutor *e, fk_tv *tv, char *msg, size_t n) {
    (void)msg;
    (void)n;
    double step = fk_ld(&tv[5], 0), lr = e->f[0], b1 = e->f[1], b2 = e->f[2], wd = e->f[3];
    double bc1 = 1 - pow(b1, step), bc2 = 1 - pow(b2, step);
    float stepsize = (float)(lr / bc1), bc2sqrt = (float)sqrt(bc2), decay = (float)(1 - lr * wd);
    float fb1 = (float)(1 - b1), fb2 = (float)b2, f1b2 = (float)(1 - b2), eps = (float)e->f[4];
    for (int64_t i = 0; i < tv[0].numel; i++) {
        int64_t op = fk_off(&tv[0], i), om = fk_off(&tv[1], i), ov = fk_off(&tv[2], i), og = fk_off(&tv[4], i);
        float g = (float)fk_ld(&tv[4], og), p = (float)fk_ld(&tv[0], op), m = (float)fk_ld(&tv[1], om),
              v = (float)fk_ld(&tv[2], ov);
        if (e->b[1])
            g = -g;
        p = p * decay;
        m = m + fb1 * (g - m);
        v = v * fb2 + f1b2 * (g * g);
        float denom;
        if (e->b[0]) {
            int64_t ox = fk_off(&tv[3], i);
            float mx = (float)fk_ld(&tv[3], ox);
            mx = mx > v ? mx : v;
            fk_st(&tv[3], ox, mx);
            denom = sqrtf(mx) / bc2sqrt + eps;
        } else
            denom = sqrtf(v) / bc2sqrt + eps;
        p = p + -stepsize * (m / denom);
        fk_st(&tv[0], op, p);
        fk_st(&tv[1], om, m);
        fk_st(&tv[2], ov, v);
    }
    return 0;
}

aclnnStatus aclnnApplyAdamWV2GetWorkspaceSize(aclTensor *varRef, aclTensor *mRef, aclTensor *vRef,
                                              aclTensor *maxGradNormOptionalRef, const aclTensor *grad, const aclTensor *step,
                                              float lr, float beta1, float beta2, float weightDecay, float eps, bool amsgrad,
                                              bool maximize, uint64_t *workspaceSize, aclOpExecutor **executor) {
    fk_op o;
    FK_TRY(fk_op_begin(&o, "aclnnApplyAdamWV2", workspaceSize, executor));
    if (fk_g.soc == FK_SOC_910A)
        return fk_op_err(&o, ACLNN_ERR_PARAM_INVALID, "aclnnApplyAdamWV2 is not supported on %s (build AdamW from elementwise "
                         "operators)", fk_g.socname);
    FK_TRY(fk_op_tensor(&o, 0, "varRef", varRef, false));
    FK_TRY(fk_op_tensor(&o, 1, "mRef", mRef, false));
    FK_TRY(fk_op_tensor(&o, 2, "vRef", vRef, false));
    FK_TRY(fk_op_tensor(&o, 3, "maxGradNormOptionalRef", maxGradNormOptionalRef, !amsgrad));
    FK_TRY(fk_op_tensor(&o, 4, "grad", grad, false));
    FK_TRY(fk_op_tensor(&o, 5, "step", step, false));
    if (!fk_isfloat(varRef->dt))
        return fk_op_err(&o, ACLNN_ERR_PARAM_INVALID, "varRef has dtype %s; FLOAT, FLOAT16 or BF16 expected",
                         fk_dtname(varRef->dt));
    const aclTensor *same[4] = {mRef, vRef, grad, amsgrad ? maxGradNormOptionalRef : varRef};
    const char *names[4] = {"mRef", "vRef", "grad", "maxGradNormOptionalRef"};
    for (int i = 0; i < 4; i++)
        if (same[i]->dt != varRef->dt || !fk_sameshape(same[i], varRef))
            return fk_op_err(&o, ACLNN_ERR_PARAM_INVALID, "%s must have varRef's shape and dtype", names[i]);
    if ((step->dt != ACL_FLOAT && step->dt != ACL_INT64) || fk_numel(step) != 1)
        return fk_op_err(&o, ACLNN_ERR_PARAM_INVALID, "step must be one FLOAT or INT64 element (has %s, %lld elements)",
                         fk_dtname(step->dt), (long long)fk_numel(step));
    if (!(lr >= 0) || !(beta1 >= 0 && beta1 < 1) || !(beta2 >= 0 && beta2 < 1) || !(eps >= 0) || !(weightDecay >= 0))
        return fk_op_err(&o, ACLNN_ERR_PARAM_INVALID, "lr %g, beta1 %g, beta2 %g, weightDecay %g, eps %g: out of range", lr,
                         beta1, beta2, weightDecay, eps);
    o.e->f[0] = lr;
    o.e->f[1] = beta1;
    o.e->f[2] = beta2;
    o.e->f[3] = weightDecay;
    o.e->f[4] = eps;
    o.e->b[0] = amsgrad;
    o.e->b[1] = maximize;
    return fk_op_end(&o, k_adamw, 0);
}
FK_SECOND(aclnnApplyAdamWV2)
