/*
 * ops_reduce.c: reductions, softmax, layer norm and the NLL loss. Sums are
 * accumulated in double, in index order, and rounded once to the output's
 * dtype.
 */
#include "fake.h"

/* fk_op_dims turns e->arr (dims, negative from the end; empty = all) into
 * a mask over nd dimensions. */
static int fk_op_dims(fk_op *o, const char *arg, int nd, bool *mask) {
    aclOpExecutor *e = o->e;
    for (int d = 0; d < FK_MAXDIM; d++)
        mask[d] = e->narr == 0 && d < nd;
    for (int i = 0; i < e->narr; i++) {
        int64_t d = e->arr[i], lim = nd > 0 ? nd : 1;
        if (d < -lim || d >= lim)
            return fk_op_err(o, ACLNN_ERR_PARAM_INVALID, "%s[%d] = %lld is out of range for %d dimensions", arg, i, (long long)d,
                             nd);
        if (d < 0)
            d += lim;
        if (nd == 0)
            continue;
        if (mask[d])
            return fk_op_err(o, ACLNN_ERR_PARAM_INVALID, "%s repeats dimension %lld", arg, (long long)d);
        mask[d] = 1;
    }
    return 0;
}

/* fk_reduced_shape is self's shape with the masked dimensions set to 1
 * (keep) or removed. */
static int fk_reduced_shape(const aclTensor *self, const bool *mask, bool keep, int64_t *dims) {
    int n = 0;
    for (int d = 0; d < self->nd; d++) {
        if (!mask[d])
            dims[n++] = self->dims[d];
        else if (keep)
            dims[n++] = 1;
    }
    return n;
}

static int fk_check_out(fk_op *o, const char *arg, const aclTensor *out, const int64_t *dims, int nd) {
    if (!fk_dimsare(out, dims, nd)) {
        char b1[128], b2[160];
        size_t k = (size_t)snprintf(b2, sizeof b2, "(");
        for (int i = 0; i < nd && k < sizeof b2; i++)
            k += (size_t)snprintf(b2 + k, sizeof b2 - k, i ? ",%lld" : "%lld", (long long)dims[i]);
        if (k < sizeof b2)
            snprintf(b2 + k, sizeof b2 - k, ")");
        return fk_op_err(o, ACLNN_ERR_PARAM_INVALID, "%s has shape %s; %s expected", arg, fk_shapestr(out, b1, sizeof b1), b2);
    }
    return 0;
}

static int fk_op_det(fk_op *o) {
    if (!fk_cur->deterministic)
        return fk_op_err(o, ACLNN_ERR_PARAM_INVALID,
                         "this operator is not deterministic by default; set ACL_OPT_DETERMINISTIC to 1 on this context "
                         "(aclrtCtxSetSysParamOpt) first");
    return 0;
}

static int fk_op_float(fk_op *o, const char *arg, aclDataType dt) {
    if (!fk_isfloat(dt))
        return fk_op_err(o, ACLNN_ERR_PARAM_INVALID, "%s has dtype %s; FLOAT, FLOAT16 or BF16 expected", arg, fk_dtname(dt));
    return 0;
}

static void fk_mask_from(const aclOpExecutor *e, bool *mask) {
    for (int d = 0; d < FK_MAXDIM; d++)
        mask[d] = (e->n[1] >> d) & 1;
}

static int64_t fk_mask_bits(const bool *mask) {
    int64_t m = 0;
    for (int d = 0; d < FK_MAXDIM; d++)
        m |= (int64_t)mask[d] << d;
    return m;
}

/* tv[0] self, tv[1] out; n[0] 0 = sum, 1 = max; n[1] the reduced dims. */
static int k_reduce(aclOpExecutor *e, fk_tv *tv, char *msg, size_t n) {
    (void)msg;
    (void)n;
    bool mask[FK_MAXDIM];
    fk_tv outer, inner;
    fk_mask_from(e, mask);
    fk_split(&tv[0], mask, &outer, &inner);
    for (int64_t o = 0; o < outer.numel; o++) {
        int64_t base = fk_off(&outer, o);
        double acc = e->n[0] ? -INFINITY : 0;
        for (int64_t i = 0; i < inner.numel; i++) {
            double x = fk_ld(&tv[0], base + fk_off(&inner, i));
            if (e->n[0] == 0)
                acc += x;
            else if (isnan(x) || x > acc || isnan(acc))
                acc = isnan(acc) ? acc : x;
        }
        fk_st(&tv[1], fk_off(&tv[1], o), acc);
    }
    return 0;
}

static int fk_reduce(fk_op *o, const aclTensor *self, const aclIntArray *dims, bool keep, aclTensor *out, int max) {
    bool mask[FK_MAXDIM];
    int64_t od[FK_MAXDIM];
    FK_TRY(fk_op_tensor(o, 0, "self", self, false));
    FK_TRY(fk_op_tensor(o, 1, "out", out, false));
    FK_TRY(fk_op_intarray(o, max ? "dim" : "dims", dims));
    if (!fk_isfloat(self->dt) && self->dt != ACL_INT32 && self->dt != ACL_INT64)
        return fk_op_err(o, ACLNN_ERR_PARAM_INVALID, "self has dtype %s", fk_dtname(self->dt));
    FK_TRY(fk_op_dims(o, max ? "dim" : "dims", self->nd, mask));
    int nd = fk_reduced_shape(self, mask, keep, od);
    FK_TRY(fk_check_out(o, "out", out, od, nd));
    for (int d = 0; d < self->nd; d++)
        if (mask[d] && self->dims[d] == 0 && max)
            return fk_op_err(o, ACLNN_ERR_PARAM_INVALID, "cannot take the maximum over the empty dimension %d", d);
    o->e->n[0] = max;
    o->e->n[1] = fk_mask_bits(mask);
    return fk_op_end(o, k_reduce, 32 + 8 * (uint64_t)fk_numel(out));
}

aclnnStatus aclnnReduceSumGetWorkspaceSize(const aclTensor *self, const aclIntArray *dims, bool keepDims, aclDataType dtype,
                                           aclTensor *out, uint64_t *workspaceSize, aclOpExecutor **executor) {
    fk_op o;
    FK_TRY(fk_op_begin(&o, "aclnnReduceSum", workspaceSize, executor));
    if (out != NULL && out->magic == FK_LIVE && out->dt != dtype)
        return fk_op_err(&o, ACLNN_ERR_PARAM_INVALID, "out has dtype %s, not the dtype %s asked for", fk_dtname(out->dt),
                         fk_dtname(dtype));
    if (out != NULL && out->magic == FK_LIVE && !fk_isfloat(dtype) && dtype != ACL_INT32 && dtype != ACL_INT64)
        return fk_op_err(&o, ACLNN_ERR_PARAM_INVALID, "dtype %s is not FLOAT, FLOAT16, BF16, INT32 or INT64", fk_dtname(dtype));
    return fk_reduce(&o, self, dims, keepDims, out, 0);
}
FK_SECOND(aclnnReduceSum)

aclnnStatus aclnnAmaxGetWorkspaceSize(const aclTensor *self, const aclIntArray *dim, bool keepDim, aclTensor *out,
                                      uint64_t *workspaceSize, aclOpExecutor **executor) {
    fk_op o;
    FK_TRY(fk_op_begin(&o, "aclnnAmax", workspaceSize, executor));
    if (self != NULL && out != NULL && self->magic == FK_LIVE && out->magic == FK_LIVE && out->dt != self->dt)
        return fk_op_err(&o, ACLNN_ERR_PARAM_INVALID, "out has dtype %s, self %s: they must match", fk_dtname(out->dt),
                         fk_dtname(self->dt));
    return fk_reduce(&o, self, dim, keepDim, out, 1);
}
FK_SECOND(aclnnAmax)

/* Softmax family: tv[0] x (or gradOutput), tv[1] y (output, backward only),
 * tv[2] out; n[0] 0 softmax, 1 log-softmax, 2 softmax backward; n[1] mask. */
static int k_softmax(aclOpExecutor *e, fk_tv *tv, char *msg, size_t n) {
    (void)msg;
    (void)n;
    bool mask[FK_MAXDIM];
    fk_tv ox, ix, oy, iy, oo, io;
    fk_mask_from(e, mask);
    fk_split(&tv[0], mask, &ox, &ix);
    fk_split(&tv[2], mask, &oo, &io);
    if (e->n[0] == 2)
        fk_split(&tv[1], mask, &oy, &iy);
    for (int64_t o = 0; o < ox.numel; o++) {
        int64_t bx = fk_off(&ox, o), bo = fk_off(&oo, o);
        if (e->n[0] == 2) {
            int64_t by = fk_off(&oy, o);
            double dot = 0;
            for (int64_t i = 0; i < ix.numel; i++)
                dot += fk_ld(&tv[0], bx + fk_off(&ix, i)) * fk_ld(&tv[1], by + fk_off(&iy, i));
            for (int64_t i = 0; i < ix.numel; i++) {
                double g = fk_ld(&tv[0], bx + fk_off(&ix, i)), y = fk_ld(&tv[1], by + fk_off(&iy, i));
                fk_st(&tv[2], bo + fk_off(&io, i), y * (g - dot));
            }
            continue;
        }
        double m = -INFINITY, s = 0;
        for (int64_t i = 0; i < ix.numel; i++) {
            double x = fk_ld(&tv[0], bx + fk_off(&ix, i));
            if (x > m || isnan(x))
                m = x;
        }
        for (int64_t i = 0; i < ix.numel; i++)
            s += exp(fk_ld(&tv[0], bx + fk_off(&ix, i)) - m);
        double ls = log(s);
        for (int64_t i = 0; i < ix.numel; i++) {
            double z = fk_ld(&tv[0], bx + fk_off(&ix, i)) - m;
            fk_st(&tv[2], bo + fk_off(&io, i), e->n[0] ? z - ls : exp(z) / s);
        }
    }
    return 0;
}

static int fk_softmax(fk_op *o, int kind, const aclTensor *x, const aclTensor *y, int64_t dim, const aclTensor *out) {
    const char *xn = kind == 2 ? "gradOutput" : "self";
    FK_TRY(fk_op_tensor(o, 0, xn, x, false));
    if (kind == 2)
        FK_TRY(fk_op_tensor(o, 1, "output", y, false));
    FK_TRY(fk_op_tensor(o, 2, "out", out, false));
    FK_TRY(fk_op_float(o, xn, x->dt));
    if (out->dt != x->dt || (y != NULL && y->dt != x->dt))
        return fk_op_err(o, ACLNN_ERR_PARAM_INVALID, "the tensors must have one dtype (%s has %s, out %s)", xn,
                         fk_dtname(x->dt), fk_dtname(out->dt));
    char b1[128], b2[128];
    if (!fk_sameshape(x, out) || (y != NULL && !fk_sameshape(x, y)))
        return fk_op_err(o, ACLNN_ERR_PARAM_INVALID, "%s %s and out %s must have the same shape", xn,
                         fk_shapestr(x, b1, sizeof b1), fk_shapestr(out, b2, sizeof b2));
    int64_t lim = x->nd > 0 ? x->nd : 1;
    if (dim < -lim || dim >= lim)
        return fk_op_err(o, ACLNN_ERR_PARAM_INVALID, "dim %lld is out of range for %d dimensions", (long long)dim, x->nd);
    if (dim < 0)
        dim += lim;
    o->e->n[0] = kind;
    o->e->n[1] = x->nd > 0 ? (int64_t)1 << dim : 0;
    int64_t rows = x->nd > 0 && x->dims[dim] > 0 ? fk_numel(x) / x->dims[dim] : 1;
    return fk_op_end(o, k_softmax, 32 + 16 * (uint64_t)rows);
}

aclnnStatus aclnnSoftmaxGetWorkspaceSize(const aclTensor *self, int64_t dim, aclTensor *out, uint64_t *workspaceSize,
                                         aclOpExecutor **executor) {
    fk_op o;
    FK_TRY(fk_op_begin(&o, "aclnnSoftmax", workspaceSize, executor));
    return fk_softmax(&o, 0, self, NULL, dim, out);
}
FK_SECOND(aclnnSoftmax)

aclnnStatus aclnnLogSoftmaxGetWorkspaceSize(const aclTensor *self, int64_t dim, aclTensor *out, uint64_t *workspaceSize,
                                            aclOpExecutor **executor) {
    fk_op o;
    FK_TRY(fk_op_begin(&o, "aclnnLogSoftmax", workspaceSize, executor));
    return fk_softmax(&o, 1, self, NULL, dim, out);
}
FK_SECOND(aclnnLogSoftmax)

aclnnStatus aclnnSoftmaxBackwardGetWorkspaceSize(const aclTensor *gradOutput, const aclTensor *output, int64_t dim,
                                                 aclTensor *out, uint64_t *workspaceSize, aclOpExecutor **executor) {
    fk_op o;
    FK_TRY(fk_op_begin(&o, "aclnnSoftmaxBackward", workspaceSize, executor));
    FK_TRY(output == NULL ? fk_op_err(&o, ACLNN_ERR_PARAM_NULLPTR, "output is NULL") : 0);
    return fk_softmax(&o, 2, gradOutput, output, dim, out);
}
FK_SECOND(aclnnSoftmaxBackward)

/* Layer norm. The normalized dimensions are the last len(normalizedShape)
 * of the input; mean and rstd have the input's shape with those set to 1. */
static int fk_ln_shapes(fk_op *o, const aclTensor *input, const aclIntArray *ns, int64_t *statdims) {
    char b1[128];
    FK_TRY(fk_op_intarray(o, "normalizedShape", ns));
    int k = o->e->narr, axis = input->nd - k;
    if (k < 1 || axis < 0)
        return fk_op_err(o, ACLNN_ERR_PARAM_INVALID, "normalizedShape has %d dimensions, input %s has %d", k,
                         fk_shapestr(input, b1, sizeof b1), input->nd);
    for (int i = 0; i < k; i++)
        if (o->e->arr[i] != input->dims[axis + i])
            return fk_op_err(o, ACLNN_ERR_PARAM_INVALID, "normalizedShape[%d] = %lld, but input %s has %lld there", i,
                             (long long)o->e->arr[i], fk_shapestr(input, b1, sizeof b1), (long long)input->dims[axis + i]);
    for (int d = 0; d < input->nd; d++)
        statdims[d] = d < axis ? input->dims[d] : 1;
    o->e->n[0] = axis;
    return 0;
}

static void fk_ln_split(const aclOpExecutor *e, const fk_tv *t, fk_tv *outer, fk_tv *inner) {
    bool mask[FK_MAXDIM] = {0};
    for (int d = (int)e->n[0]; d < t->nd; d++)
        mask[d] = 1;
    fk_split(t, mask, outer, inner);
}

/* tv: 0 input, 1 weight, 2 bias, 3 out, 4 mean, 5 rstd; f[0] eps. */
static int k_layernorm(aclOpExecutor *e, fk_tv *tv, char *msg, size_t n) {
    (void)msg;
    (void)n;
    fk_tv ox, ix, oo, io, om, im, orr, ir;
    fk_ln_split(e, &tv[0], &ox, &ix);
    fk_ln_split(e, &tv[3], &oo, &io);
    if (e->has[4])
        fk_ln_split(e, &tv[4], &om, &im);
    if (e->has[5])
        fk_ln_split(e, &tv[5], &orr, &ir);
    for (int64_t r = 0; r < ox.numel; r++) {
        int64_t bx = fk_off(&ox, r), bo = fk_off(&oo, r);
        double mean = 0, var = 0;
        for (int64_t i = 0; i < ix.numel; i++)
            mean += fk_ld(&tv[0], bx + fk_off(&ix, i));
        mean /= (double)ix.numel;
        for (int64_t i = 0; i < ix.numel; i++) {
            double d = fk_ld(&tv[0], bx + fk_off(&ix, i)) - mean;
            var += d * d;
        }
        var /= (double)ix.numel;
        double rstd = 1 / sqrt(var + e->f[0]);
        for (int64_t i = 0; i < ix.numel; i++) {
            double y = (fk_ld(&tv[0], bx + fk_off(&ix, i)) - mean) * rstd;
            if (e->has[1])
                y *= fk_ld(&tv[1], fk_off(&tv[1], i));
            if (e->has[2])
                y += fk_ld(&tv[2], fk_off(&tv[2], i));
            fk_st(&tv[3], bo + fk_off(&io, i), y);
        }
        if (e->has[4])
            fk_st(&tv[4], fk_off(&om, r), mean);
        if (e->has[5])
            fk_st(&tv[5], fk_off(&orr, r), rstd);
    }
    return 0;
}

static int fk_ln_param(fk_op *o, const char *arg, const aclTensor *t, const aclTensor *input) {
    if (t == NULL)
        return 0;
    FK_TRY(fk_op_float(o, arg, t->dt));
    if (!fk_dimsare(t, o->e->arr, o->e->narr)) {
        char b1[128];
        return fk_op_err(o, ACLNN_ERR_PARAM_INVALID, "%s has shape %s; normalizedShape expected", arg,
                         fk_shapestr(t, b1, sizeof b1));
    }
    (void)input;
    return 0;
}

aclnnStatus aclnnLayerNormGetWorkspaceSize(const aclTensor *input, const aclIntArray *normalizedShape,
                                           const aclTensor *weightOptional, const aclTensor *biasOptional, double eps,
                                           aclTensor *out, aclTensor *meanOutOptional, aclTensor *rstdOutOptional,
                                           uint64_t *workspaceSize, aclOpExecutor **executor) {
    fk_op o;
    int64_t sd[FK_MAXDIM];
    FK_TRY(fk_op_begin(&o, "aclnnLayerNorm", workspaceSize, executor));
    FK_TRY(fk_op_tensor(&o, 0, "input", input, false));
    FK_TRY(fk_op_tensor(&o, 1, "weightOptional", weightOptional, true));
    FK_TRY(fk_op_tensor(&o, 2, "biasOptional", biasOptional, true));
    FK_TRY(fk_op_tensor(&o, 3, "out", out, false));
    FK_TRY(fk_op_tensor(&o, 4, "meanOutOptional", meanOutOptional, true));
    FK_TRY(fk_op_tensor(&o, 5, "rstdOutOptional", rstdOutOptional, true));
    FK_TRY(fk_op_float(&o, "input", input->dt));
    if (out->dt != input->dt)
        return fk_op_err(&o, ACLNN_ERR_PARAM_INVALID, "out has dtype %s, input %s: they must match", fk_dtname(out->dt),
                         fk_dtname(input->dt));
    if (!fk_sameshape(input, out))
        return fk_op_err(&o, ACLNN_ERR_PARAM_INVALID, "out must have input's shape");
    FK_TRY(fk_ln_shapes(&o, input, normalizedShape, sd));
    FK_TRY(fk_ln_param(&o, "weightOptional", weightOptional, input));
    FK_TRY(fk_ln_param(&o, "biasOptional", biasOptional, input));
    if (meanOutOptional != NULL) {
        FK_TRY(fk_op_float(&o, "meanOutOptional", meanOutOptional->dt));
        FK_TRY(fk_check_out(&o, "meanOutOptional", meanOutOptional, sd, input->nd));
    }
    if (rstdOutOptional != NULL) {
        FK_TRY(fk_op_float(&o, "rstdOutOptional", rstdOutOptional->dt));
        FK_TRY(fk_check_out(&o, "rstdOutOptional", rstdOutOptional, sd, input->nd));
    }
    if (!(eps >= 0))
        return fk_op_err(&o, ACLNN_ERR_PARAM_INVALID, "eps %g is negative", eps);
    o.e->f[0] = eps;
    int64_t rows = 1;
    for (int d = 0; d < o.e->n[0]; d++)
        rows *= input->dims[d];
    return fk_op_end(&o, k_layernorm, 32 + 16 * (uint64_t)rows);
}
FK_SECOND(aclnnLayerNorm)

/* tv: 0 gradOut, 1 input, 2 mean, 3 rstd, 4 weight, 6 gradInput,
 * 7 gradWeight, 8 gradBias; b[0..2] the output mask. */
static int k_layernorm_back(aclOpExecutor *e, fk_tv *tv, char *msg, size_t n) {
    fk_tv og, ig, ox, ix, om, im, orr, ir, odx, idx;
    fk_ln_split(e, &tv[0], &og, &ig);
    fk_ln_split(e, &tv[1], &ox, &ix);
    fk_ln_split(e, &tv[2], &om, &im);
    fk_ln_split(e, &tv[3], &orr, &ir);
    if (e->b[0])
        fk_ln_split(e, &tv[6], &odx, &idx);
    int64_t k = ix.numel;
    double *dw = calloc((size_t)(2 * k + 1), sizeof(double)), *db = dw + k;
    if (dw == NULL) {
        snprintf(msg, n, "out of host memory");
        return ACL_ERROR_RT_INTERNAL_ERROR;
    }
    for (int64_t r = 0; r < ox.numel; r++) {
        int64_t bg = fk_off(&og, r), bx = fk_off(&ox, r);
        double mean = fk_ld(&tv[2], fk_off(&om, r)), rstd = fk_ld(&tv[3], fk_off(&orr, r)), a = 0, b = 0;
        for (int64_t i = 0; i < k; i++) {
            double g = fk_ld(&tv[0], bg + fk_off(&ig, i)), xh = (fk_ld(&tv[1], bx + fk_off(&ix, i)) - mean) * rstd;
            double wg = g * (e->has[4] ? fk_ld(&tv[4], fk_off(&tv[4], i)) : 1);
            a += wg;
            b += wg * xh;
            dw[i] += g * xh;
            db[i] += g;
        }
        a /= (double)k;
        b /= (double)k;
        if (!e->b[0])
            continue;
        int64_t bd = fk_off(&odx, r);
        for (int64_t i = 0; i < k; i++) {
            double g = fk_ld(&tv[0], bg + fk_off(&ig, i)), xh = (fk_ld(&tv[1], bx + fk_off(&ix, i)) - mean) * rstd;
            double wg = g * (e->has[4] ? fk_ld(&tv[4], fk_off(&tv[4], i)) : 1);
            fk_st(&tv[6], bd + fk_off(&idx, i), rstd * (wg - a - xh * b));
        }
    }
    for (int64_t i = 0; i < k; i++) {
        if (e->b[1])
            fk_st(&tv[7], fk_off(&tv[7], i), dw[i]);
        if (e->b[2])
            fk_st(&tv[8], fk_off(&tv[8], i), db[i]);
    }
    free(dw);
    return 0;
}

aclnnStatus aclnnLayerNormBackwardGetWorkspaceSize(const aclTensor *gradOut, const aclTensor *input,
                                                   const aclIntArray *normalizedShape, const aclTensor *mean,
                                                   const aclTensor *rstd, const aclTensor *weightOptional,
                                                   const aclTensor *biasOptional, const aclBoolArray *outputMask,
                                                   aclTensor *gradInputOut, aclTensor *gradWeightOut, aclTensor *gradBiasOut,
                                                   uint64_t *workspaceSize, aclOpExecutor **executor) {
    fk_op o;
    int64_t sd[FK_MAXDIM];
    FK_TRY(fk_op_begin(&o, "aclnnLayerNormBackward", workspaceSize, executor));
    FK_TRY(fk_op_tensor(&o, 0, "gradOut", gradOut, false));
    FK_TRY(fk_op_tensor(&o, 1, "input", input, false));
    FK_TRY(fk_op_tensor(&o, 2, "mean", mean, false));
    FK_TRY(fk_op_tensor(&o, 3, "rstd", rstd, false));
    FK_TRY(fk_op_tensor(&o, 4, "weightOptional", weightOptional, true));
    FK_TRY(fk_op_tensor(&o, 5, "biasOptional", biasOptional, true));
    if (outputMask == NULL)
        return fk_op_err(&o, ACLNN_ERR_PARAM_NULLPTR, "outputMask is NULL");
    if (outputMask->magic != FK_LIVE || outputMask->n != 3)
        return fk_op_err(&o, ACLNN_ERR_PARAM_INVALID, "outputMask must be a live bool array of length 3");
    const char *names[3] = {"gradInputOut", "gradWeightOut", "gradBiasOut"};
    aclTensor *outs[3] = {gradInputOut, gradWeightOut, gradBiasOut};
    for (int i = 0; i < 3; i++) {
        o.e->b[i] = outputMask->v[i];
        FK_TRY(fk_op_tensor(&o, 6 + i, names[i], outs[i], !outputMask->v[i]));
        if (!outputMask->v[i])
            o.e->has[6 + i] = 0; /* not written: not referenced */
    }
    FK_TRY(fk_op_float(&o, "input", input->dt));
    if (gradOut->dt != input->dt)
        return fk_op_err(&o, ACLNN_ERR_PARAM_INVALID, "gradOut and input must have one dtype");
    if (!fk_sameshape(gradOut, input))
        return fk_op_err(&o, ACLNN_ERR_PARAM_INVALID, "gradOut must have input's shape");
    FK_TRY(fk_ln_shapes(&o, input, normalizedShape, sd));
    FK_TRY(fk_op_float(&o, "mean", mean->dt));
    FK_TRY(fk_op_float(&o, "rstd", rstd->dt));
    FK_TRY(fk_check_out(&o, "mean", mean, sd, input->nd));
    FK_TRY(fk_check_out(&o, "rstd", rstd, sd, input->nd));
    FK_TRY(fk_ln_param(&o, "weightOptional", weightOptional, input));
    FK_TRY(fk_ln_param(&o, "biasOptional", biasOptional, input));
    if (o.e->b[0]) {
        FK_TRY(fk_op_float(&o, "gradInputOut", gradInputOut->dt));
        if (!fk_sameshape(gradInputOut, input))
            return fk_op_err(&o, ACLNN_ERR_PARAM_INVALID, "gradInputOut must have input's shape");
    }
    for (int i = 1; i < 3; i++)
        if (o.e->b[i]) {
            FK_TRY(fk_op_float(&o, names[i], outs[i]->dt));
            FK_TRY(fk_check_out(&o, names[i], outs[i], o.e->arr, o.e->narr));
        }
    int64_t rows = 1;
    for (int d = 0; d < o.e->n[0]; d++)
        rows *= input->dims[d];
    return fk_op_end(&o, k_layernorm_back, 32 + 16 * (uint64_t)rows + 16 * (uint64_t)(fk_numel(input) / (rows ? rows : 1)));
}
FK_SECOND(aclnnLayerNormBackward)

/* NLL loss. tv: 0 self (N,C) or (C), 1 target, 2 weight, 3 out,
 * 4 totalWeightOut; n[0] reduction, n[1] ignoreIndex. */
static int k_nll(aclOpExecutor *e, fk_tv *tv, char *msg, size_t n) {
    int two = tv[0].nd == 2;
    int64_t N = two ? tv[0].dims[0] : 1, C = tv[0].dims[two];
    int64_t sn = two ? tv[0].strides[0] : 0, sc = tv[0].strides[two], st = tv[1].nd ? tv[1].strides[0] : 0;
    double sum = 0, tw = 0;
    for (int64_t i = 0; i < N; i++) {
        int64_t t = (int64_t)fk_ld(&tv[1], i * st);
        double loss = 0;
        if (t != e->n[1]) {
            if (t < 0 || t >= C) {
                snprintf(msg, n, "target[%lld] = %lld is outside [0, %lld) and is not ignoreIndex %lld", (long long)i,
                         (long long)t, (long long)C, (long long)e->n[1]);
                return ACL_ERROR_RT_AICORE_EXCEPTION;
            }
            double w = e->has[2] ? fk_ld(&tv[2], fk_off(&tv[2], t)) : 1;
            loss = -w * fk_ld(&tv[0], i * sn + t * sc);
            tw += w;
        }
        sum += loss;
        if (e->n[0] == 0)
            fk_st(&tv[3], fk_off(&tv[3], i), loss);
    }
    if (e->n[0] == 1)
        fk_st(&tv[3], 0, sum / tw);
    else if (e->n[0] == 2)
        fk_st(&tv[3], 0, sum);
    /* With reduction none the total weight is not computed: 0, as torch's
     * CPU kernel leaves it. */
    fk_st(&tv[4], 0, e->n[0] == 0 ? 0 : tw);
    return 0;
}

static int fk_scalar_shape(const aclTensor *t) { return t->nd == 0 || (t->nd == 1 && t->dims[0] == 1); }

aclnnStatus aclnnNLLLossGetWorkspaceSize(const aclTensor *self, const aclTensor *target, const aclTensor *weight,
                                         int64_t reduction, int64_t ignoreIndex, aclTensor *out, aclTensor *totalWeightOut,
                                         uint64_t *workspaceSize, aclOpExecutor **executor) {
    fk_op o;
    char b1[128], b2[128];
    FK_TRY(fk_op_begin(&o, "aclnnNLLLoss", workspaceSize, executor));
    FK_TRY(fk_op_tensor(&o, 0, "self", self, false));
    FK_TRY(fk_op_tensor(&o, 1, "target", target, false));
    FK_TRY(fk_op_tensor(&o, 2, "weight", weight, true));
    FK_TRY(fk_op_tensor(&o, 3, "out", out, false));
    FK_TRY(fk_op_tensor(&o, 4, "totalWeightOut", totalWeightOut, false));
    FK_TRY(fk_op_det(&o));
    FK_TRY(fk_op_float(&o, "self", self->dt));
    if (self->nd != 1 && self->nd != 2)
        return fk_op_err(&o, ACLNN_ERR_PARAM_INVALID, "self %s must be (N,C) or (C)", fk_shapestr(self, b1, sizeof b1));
    int64_t N = self->nd == 2 ? self->dims[0] : 1, C = self->dims[self->nd - 1];
    if (target->dt != ACL_INT64 && target->dt != ACL_INT32)
        return fk_op_err(&o, ACLNN_ERR_PARAM_INVALID, "target has dtype %s; INT64 or INT32 expected", fk_dtname(target->dt));
    if (self->nd == 2 ? !(target->nd == 1 && target->dims[0] == N) : target->nd != 0)
        return fk_op_err(&o, ACLNN_ERR_PARAM_INVALID, "target %s does not match self %s (N)", fk_shapestr(target, b1, sizeof b1),
                         fk_shapestr(self, b2, sizeof b2));
    if (weight != NULL && (weight->nd != 1 || weight->dims[0] != C || weight->dt != self->dt))
        return fk_op_err(&o, ACLNN_ERR_PARAM_INVALID, "weight %s must be (C) = (%lld) of self's dtype",
                         fk_shapestr(weight, b1, sizeof b1), (long long)C);
    if (reduction < 0 || reduction > 2)
        return fk_op_err(&o, ACLNN_ERR_PARAM_INVALID, "reduction %lld is not 0 (none), 1 (mean) or 2 (sum)", (long long)reduction);
    if (out->dt != self->dt || totalWeightOut->dt != self->dt)
        return fk_op_err(&o, ACLNN_ERR_PARAM_INVALID, "out and totalWeightOut must have self's dtype %s", fk_dtname(self->dt));
    if (reduction == 0 && self->nd == 2 ? !(out->nd == 1 && out->dims[0] == N) : !fk_scalar_shape(out))
        return fk_op_err(&o, ACLNN_ERR_PARAM_INVALID, "out has shape %s; %s expected", fk_shapestr(out, b1, sizeof b1),
                         reduction == 0 && self->nd == 2 ? "(N)" : "() or (1)");
    if (!fk_scalar_shape(totalWeightOut))
        return fk_op_err(&o, ACLNN_ERR_PARAM_INVALID, "totalWeightOut has shape %s; () or (1) expected",
                         fk_shapestr(totalWeightOut, b1, sizeof b1));
    if (C == 0)
        return fk_op_err(&o, ACLNN_ERR_PARAM_INVALID, "self has no classes");
    o.e->n[0] = reduction;
    o.e->n[1] = ignoreIndex;
    return fk_op_end(&o, k_nll, reduction ? 32 + 8 * (uint64_t)N : 0);
}
FK_SECOND(aclnnNLLLoss)
