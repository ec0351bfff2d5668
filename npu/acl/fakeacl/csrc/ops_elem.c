/*
 * ops_elem.c: elementwise operators. Values are computed in double and
 * rounded once to the output's dtype (round to nearest even).
 */
#include "fake.h"

enum { BIN_ADD, BIN_SUB, BIN_MUL, BIN_DIV };

/* The dtypes the arithmetic operators take (aclnnAdd, aclnnMul, ...). */
static int fk_arith(aclDataType dt) {
    return dt == ACL_FLOAT || dt == ACL_FLOAT16 || dt == ACL_BF16 || dt == ACL_INT32 || dt == ACL_INT64;
}

static int fk_arith_arg(fk_op *o, const char *arg, aclDataType dt) {
    if (!fk_arith(dt))
        return fk_op_err(o, ACLNN_ERR_PARAM_INVALID, "%s has dtype %s; FLOAT, FLOAT16, BF16, INT32 or INT64 expected", arg,
                         fk_dtname(dt));
    return 0;
}

static int k_binary(aclOpExecutor *e, fk_tv *tv, char *msg, size_t n) {
    (void)msg;
    (void)n;
    fk_tv a = fk_bcast(&tv[0], e->arr, e->narr), b = fk_bcast(&tv[1], e->arr, e->narr);
    fk_tv *out = &tv[2];
    double alpha = e->f[0];
    for (int64_t i = 0; i < out->numel; i++) {
        double x = fk_ld(&a, fk_off(&a, i)), y = fk_ld(&b, fk_off(&b, i)), r;
        switch (e->n[0]) {
        case BIN_ADD:
            r = x + alpha * y;
            break;
        case BIN_SUB:
            r = x - alpha * y;
            break;
        case BIN_MUL:
            r = x * y;
            break;
        default:
            r = x / y;
            break;
        }
        fk_st(out, fk_off(out, i), r);
    }
    return 0;
}

/* fk_binary checks self ∘ other into out (out NULL: in place into self). */
static int fk_binary(fk_op *o, int kind, const aclTensor *self, const aclTensor *other, const aclScalar *alpha,
                     const aclTensor *out) {
    const char *sname = out == NULL ? "selfRef" : "self";
    FK_TRY(fk_op_tensor(o, 0, sname, self, false));
    FK_TRY(fk_op_tensor(o, 1, "other", other, false));
    FK_TRY(fk_op_tensor(o, 2, out == NULL ? "selfRef" : "out", out == NULL ? self : out, false));
    aclOpExecutor *e = o->e;
    FK_TRY(fk_arith_arg(o, sname, self->dt));
    FK_TRY(fk_arith_arg(o, "other", other->dt));
    const aclTensor *dst = &e->t[2];
    FK_TRY(fk_arith_arg(o, out == NULL ? "selfRef" : "out", dst->dt));
    aclDataType rt = fk_promote(self->dt, other->dt);
    if (kind == BIN_DIV && !fk_isfloat(rt))
        rt = ACL_FLOAT;
    if (!fk_cancast(rt, dst->dt))
        return fk_op_err(o, ACLNN_ERR_PARAM_INVALID, "the result type %s of %s and %s cannot be cast to %s's %s", fk_dtname(rt),
                         fk_dtname(self->dt), fk_dtname(other->dt), out == NULL ? "selfRef" : "out", fk_dtname(dst->dt));
    e->f[0] = 1;
    if (alpha != NULL) {
        aclDataType adt;
        FK_TRY(fk_op_scalar(o, "alpha", alpha, &e->f[0], &adt));
        if (!fk_isfloat(rt) && (adt == ACL_FLOAT || adt == ACL_DOUBLE))
            return fk_op_err(o, ACLNN_ERR_PARAM_INVALID, "alpha is a floating-point scalar but the inputs are integral (%s)",
                             fk_dtname(rt));
    }
    int nd;
    char b1[128], b2[128], b3[128];
    if (!fk_bshape(self, other, e->arr, &nd))
        return fk_op_err(o, ACLNN_ERR_PARAM_INVALID, "%s %s and other %s do not broadcast", sname,
                         fk_shapestr(self, b1, sizeof b1), fk_shapestr(other, b2, sizeof b2));
    e->narr = nd;
    if (!fk_dimsare(dst, e->arr, nd))
        return fk_op_err(o, ACLNN_ERR_PARAM_INVALID, "%s has shape %s, but %s %s and other %s broadcast to another shape",
                         out == NULL ? "selfRef" : "out", fk_shapestr(dst, b1, sizeof b1), sname,
                         fk_shapestr(self, b2, sizeof b2), fk_shapestr(other, b3, sizeof b3));
    e->n[0] = kind;
    return fk_op_end(o, k_binary, 0);
}

aclnnStatus aclnnAddGetWorkspaceSize(const aclTensor *self, const aclTensor *other, const aclScalar *alpha, aclTensor *out,
                                     uint64_t *workspaceSize, aclOpExecutor **executor) {
    fk_op o;
    FK_TRY(fk_op_begin(&o, "aclnnAdd", workspaceSize, executor));
    FK_TRY(out == NULL ? fk_op_err(&o, ACLNN_ERR_PARAM_NULLPTR, "out is NULL") : 0);
    FK_TRY(alpha == NULL ? fk_op_err(&o, ACLNN_ERR_PARAM_NULLPTR, "alpha is NULL") : 0);
    return fk_binary(&o, BIN_ADD, self, other, alpha, out);
}
FK_SECOND(aclnnAdd)

aclnnStatus aclnnInplaceAddGetWorkspaceSize(aclTensor *selfRef, const aclTensor *other, const aclScalar *alpha,
                                            uint64_t *workspaceSize, aclOpExecutor **executor) {
    fk_op o;
    FK_TRY(fk_op_begin(&o, "aclnnInplaceAdd", workspaceSize, executor));
    FK_TRY(alpha == NULL ? fk_op_err(&o, ACLNN_ERR_PARAM_NULLPTR, "alpha is NULL") : 0);
    return fk_binary(&o, BIN_ADD, selfRef, other, alpha, NULL);
}
FK_SECOND(aclnnInplaceAdd)

aclnnStatus aclnnSubGetWorkspaceSize(const aclTensor *self, const aclTensor *other, const aclScalar *alpha, aclTensor *out,
                                     uint64_t *workspaceSize, aclOpExecutor **executor) {
    fk_op o;
    FK_TRY(fk_op_begin(&o, "aclnnSub", workspaceSize, executor));
    FK_TRY(out == NULL ? fk_op_err(&o, ACLNN_ERR_PARAM_NULLPTR, "out is NULL") : 0);
    FK_TRY(alpha == NULL ? fk_op_err(&o, ACLNN_ERR_PARAM_NULLPTR, "alpha is NULL") : 0);
    return fk_binary(&o, BIN_SUB, self, other, alpha, out);
}
FK_SECOND(aclnnSub)

aclnnStatus aclnnMulGetWorkspaceSize(const aclTensor *self, const aclTensor *other, aclTensor *out, uint64_t *workspaceSize,
                                     aclOpExecutor **executor) {
    fk_op o;
    FK_TRY(fk_op_begin(&o, "aclnnMul", workspaceSize, executor));
    FK_TRY(out == NULL ? fk_op_err(&o, ACLNN_ERR_PARAM_NULLPTR, "out is NULL") : 0);
    return fk_binary(&o, BIN_MUL, self, other, NULL, out);
}
FK_SECOND(aclnnMul)

aclnnStatus aclnnDivGetWorkspaceSize(const aclTensor *self, const aclTensor *other, aclTensor *out, uint64_t *workspaceSize,
                                     aclOpExecutor **executor) {
    fk_op o;
    FK_TRY(fk_op_begin(&o, "aclnnDiv", workspaceSize, executor));
    FK_TRY(out == NULL ? fk_op_err(&o, ACLNN_ERR_PARAM_NULLPTR, "out is NULL") : 0);
    return fk_binary(&o, BIN_DIV, self, other, NULL, out);
}
FK_SECOND(aclnnDiv)

/* Unary kernels: n[0] picks the function, f[] its scalars. */
enum { UN_MULS, UN_ADDS, UN_SQRT, UN_EXP, UN_CAST, UN_FILL, UN_GELU_ERF, UN_GELU_TANH };

static const double fk_k0 = 0.7978845608028654; /* sqrt(2/pi) */
static const double fk_k1 = 0.044715;

static double fk_unary(int kind, double x, const double *f) {
    switch (kind) {
    case UN_MULS:
        return x * f[0];
    case UN_ADDS:
        return x + f[1] * f[0];
    case UN_SQRT:
        return sqrt(x);
    case UN_EXP:
        return exp(x);
    case UN_FILL:
        return f[0];
    case UN_GELU_ERF:
        return 0.5 * x * (1 + erf(x * 0.7071067811865476));
    case UN_GELU_TANH:
        return 0.5 * x * (1 + tanh(fk_k0 * (x + fk_k1 * x * x * x)));
    default:
        return x;
    }
}

/* tv[0] in, tv[1] out (same shape). */
static int k_unary(aclOpExecutor *e, fk_tv *tv, char *msg, size_t n) {
    (void)msg;
    (void)n;
    for (int64_t i = 0; i < tv[1].numel; i++)
        fk_st(&tv[1], fk_off(&tv[1], i), fk_unary((int)e->n[0], fk_ld(&tv[0], fk_off(&tv[0], i)), e->f));
    return 0;
}

static int fk_sameshape_err(fk_op *o, const char *an, const aclTensor *a, const char *bn, const aclTensor *b) {
    char b1[128], b2[128];
    if (!fk_sameshape(a, b))
        return fk_op_err(o, ACLNN_ERR_PARAM_INVALID, "%s %s and %s %s must have the same shape", an,
                         fk_shapestr(a, b1, sizeof b1), bn, fk_shapestr(b, b2, sizeof b2));
    return 0;
}

static int fk_float_arg(fk_op *o, const char *arg, aclDataType dt) {
    if (!fk_isfloat(dt))
        return fk_op_err(o, ACLNN_ERR_PARAM_INVALID, "%s has dtype %s; FLOAT, FLOAT16 or BF16 expected", arg, fk_dtname(dt));
    return 0;
}

aclnnStatus aclnnInplaceMulsGetWorkspaceSize(aclTensor *selfRef, const aclScalar *other, uint64_t *workspaceSize,
                                             aclOpExecutor **executor) {
    fk_op o;
    aclDataType sdt;
    FK_TRY(fk_op_begin(&o, "aclnnInplaceMuls", workspaceSize, executor));
    FK_TRY(fk_op_tensor(&o, 0, "selfRef", selfRef, false));
    FK_TRY(fk_op_tensor(&o, 1, "selfRef", selfRef, false));
    FK_TRY(fk_op_scalar(&o, "other", other, &o.e->f[0], &sdt));
    FK_TRY(fk_arith_arg(&o, "selfRef", selfRef->dt));
    if (!fk_isfloat(selfRef->dt) && (sdt == ACL_FLOAT || sdt == ACL_DOUBLE))
        return fk_op_err(&o, ACLNN_ERR_PARAM_INVALID, "a floating-point scalar cannot multiply selfRef of dtype %s in place",
                         fk_dtname(selfRef->dt));
    o.e->n[0] = UN_MULS;
    return fk_op_end(&o, k_unary, 0);
}
FK_SECOND(aclnnInplaceMuls)

aclnnStatus aclnnAddsGetWorkspaceSize(const aclTensor *self, const aclScalar *other, const aclScalar *alpha, aclTensor *out,
                                      uint64_t *workspaceSize, aclOpExecutor **executor) {
    fk_op o;
    aclDataType odt, adt;
    FK_TRY(fk_op_begin(&o, "aclnnAdds", workspaceSize, executor));
    FK_TRY(fk_op_tensor(&o, 0, "self", self, false));
    FK_TRY(fk_op_tensor(&o, 1, "out", out, false));
    FK_TRY(fk_op_scalar(&o, "other", other, &o.e->f[0], &odt));
    FK_TRY(fk_op_scalar(&o, "alpha", alpha, &o.e->f[1], &adt));
    FK_TRY(fk_arith_arg(&o, "self", self->dt));
    FK_TRY(fk_arith_arg(&o, "out", out->dt));
    aclDataType rt = self->dt;
    if (!fk_isfloat(rt) && (odt == ACL_FLOAT || odt == ACL_DOUBLE))
        rt = ACL_FLOAT;
    if (!fk_isfloat(rt) && (adt == ACL_FLOAT || adt == ACL_DOUBLE))
        return fk_op_err(&o, ACLNN_ERR_PARAM_INVALID, "alpha is a floating-point scalar but self is %s", fk_dtname(self->dt));
    if (!fk_cancast(rt, out->dt))
        return fk_op_err(&o, ACLNN_ERR_PARAM_INVALID, "the result type %s cannot be cast to out's %s", fk_dtname(rt),
                         fk_dtname(out->dt));
    FK_TRY(fk_sameshape_err(&o, "self", self, "out", out));
    o.e->n[0] = UN_ADDS;
    return fk_op_end(&o, k_unary, 0);
}
FK_SECOND(aclnnAdds)

static int fk_mathfn(fk_op *o, int kind, const aclTensor *self, const aclTensor *out) {
    FK_TRY(fk_op_tensor(o, 0, "self", self, false));
    FK_TRY(fk_op_tensor(o, 1, "out", out, false));
    FK_TRY(fk_arith_arg(o, "self", self->dt));
    FK_TRY(fk_float_arg(o, "out", out->dt));
    FK_TRY(fk_sameshape_err(o, "self", self, "out", out));
    o->e->n[0] = kind;
    return fk_op_end(o, k_unary, 0);
}

aclnnStatus aclnnSqrtGetWorkspaceSize(const aclTensor *self, aclTensor *out, uint64_t *workspaceSize, aclOpExecutor **executor) {
    fk_op o;
    FK_TRY(fk_op_begin(&o, "aclnnSqrt", workspaceSize, executor));
    return fk_mathfn(&o, UN_SQRT, self, out);
}
FK_SECOND(aclnnSqrt)

aclnnStatus aclnnExpGetWorkspaceSize(const aclTensor *self, aclTensor *out, uint64_t *workspaceSize, aclOpExecutor **executor) {
    fk_op o;
    FK_TRY(fk_op_begin(&o, "aclnnExp", workspaceSize, executor));
    return fk_mathfn(&o, UN_EXP, self, out);
}
FK_SECOND(aclnnExp)

static int fk_castable(aclDataType dt) {
    return dt == ACL_FLOAT || dt == ACL_FLOAT16 || dt == ACL_BF16 || dt == ACL_INT32 || dt == ACL_INT64 || dt == ACL_BOOL ||
           dt == ACL_INT8 || dt == ACL_UINT8 || dt == ACL_DOUBLE;
}

aclnnStatus aclnnCastGetWorkspaceSize(const aclTensor *self, const aclDataType dtype, aclTensor *out, uint64_t *workspaceSize,
                                      aclOpExecutor **executor) {
    fk_op o;
    FK_TRY(fk_op_begin(&o, "aclnnCast", workspaceSize, executor));
    FK_TRY(fk_op_tensor(&o, 0, "self", self, false));
    FK_TRY(fk_op_tensor(&o, 1, "out", out, false));
    if (!fk_castable(self->dt) || !fk_castable(dtype))
        return fk_op_err(&o, ACLNN_ERR_PARAM_INVALID, "cannot cast %s to %s", fk_dtname(self->dt), fk_dtname(dtype));
    if (fk_g.soc == FK_SOC_910A && dtype == ACL_BF16)
        return fk_op_err(&o, ACLNN_ERR_PARAM_INVALID, "dtype BF16 is not supported on %s", fk_g.socname);
    if (out->dt != dtype)
        return fk_op_err(&o, ACLNN_ERR_PARAM_INVALID, "out has dtype %s, not the dtype %s asked for", fk_dtname(out->dt),
                         fk_dtname(dtype));
    FK_TRY(fk_sameshape_err(&o, "self", self, "out", out));
    o.e->n[0] = UN_CAST;
    return fk_op_end(&o, k_unary, 0);
}
FK_SECOND(aclnnCast)

/* InplaceCopy reads all of src before writing, so overlapping views copy as
 * if through a temporary. tv[0] selfRef, tv[1] src. */
static int k_copy(aclOpExecutor *e, fk_tv *tv, char *msg, size_t n) {
    fk_tv src = fk_bcast(&tv[1], e->arr, e->narr);
    double *tmp = malloc((size_t)(tv[0].numel > 0 ? tv[0].numel : 1) * sizeof(double));
    if (tmp == NULL) {
        snprintf(msg, n, "out of host memory");
        return ACL_ERROR_RT_INTERNAL_ERROR;
    }
    for (int64_t i = 0; i < tv[0].numel; i++)
        tmp[i] = fk_ld(&src, fk_off(&src, i));
    for (int64_t i = 0; i < tv[0].numel; i++)
        fk_st(&tv[0], fk_off(&tv[0], i), tmp[i]);
    free(tmp);
    return 0;
}

aclnnStatus aclnnInplaceCopyGetWorkspaceSize(aclTensor *selfRef, const aclTensor *src, uint64_t *workspaceSize,
                                             aclOpExecutor **executor) {
    fk_op o;
    int nd;
    char b1[128], b2[128];
    FK_TRY(fk_op_begin(&o, "aclnnInplaceCopy", workspaceSize, executor));
    FK_TRY(fk_op_tensor(&o, 0, "selfRef", selfRef, false));
    FK_TRY(fk_op_tensor(&o, 1, "src", src, false));
    if (!fk_castable(selfRef->dt) || !fk_castable(src->dt))
        return fk_op_err(&o, ACLNN_ERR_PARAM_INVALID, "cannot copy %s to %s", fk_dtname(src->dt), fk_dtname(selfRef->dt));
    if (!fk_bshape(selfRef, src, o.e->arr, &nd) || !fk_dimsare(selfRef, o.e->arr, nd))
        return fk_op_err(&o, ACLNN_ERR_PARAM_INVALID, "src %s does not broadcast to selfRef %s", fk_shapestr(src, b1, sizeof b1),
                         fk_shapestr(selfRef, b2, sizeof b2));
    o.e->narr = nd;
    return fk_op_end(&o, k_copy, 0);
}
FK_SECOND(aclnnInplaceCopy)

aclnnStatus aclnnInplaceFillScalarGetWorkspaceSize(aclTensor *selfRef, const aclScalar *value, uint64_t *workspaceSize,
                                                   aclOpExecutor **executor) {
    fk_op o;
    FK_TRY(fk_op_begin(&o, "aclnnInplaceFillScalar", workspaceSize, executor));
    FK_TRY(fk_op_tensor(&o, 0, "selfRef", selfRef, false));
    FK_TRY(fk_op_tensor(&o, 1, "selfRef", selfRef, false));
    FK_TRY(fk_op_scalar(&o, "value", value, &o.e->f[0], NULL));
    if (!fk_castable(selfRef->dt))
        return fk_op_err(&o, ACLNN_ERR_PARAM_INVALID, "selfRef has dtype %s", fk_dtname(selfRef->dt));
    o.e->n[0] = UN_FILL;
    return fk_op_end(&o, k_unary, 0);
}
FK_SECOND(aclnnInplaceFillScalar)

/* tv[0] selfRef, tv[1] mask (broadcast to selfRef). */
static int k_maskfill(aclOpExecutor *e, fk_tv *tv, char *msg, size_t n) {
    (void)msg;
    (void)n;
    fk_tv m = fk_bcast(&tv[1], e->arr, e->narr);
    for (int64_t i = 0; i < tv[0].numel; i++)
        if (fk_ld(&m, fk_off(&m, i)) != 0)
            fk_st(&tv[0], fk_off(&tv[0], i), e->f[0]);
    return 0;
}

aclnnStatus aclnnInplaceMaskedFillScalarGetWorkspaceSize(aclTensor *selfRef, const aclTensor *mask, const aclScalar *value,
                                                         uint64_t *workspaceSize, aclOpExecutor **executor) {
    fk_op o;
    int nd;
    char b1[128], b2[128];
    FK_TRY(fk_op_begin(&o, "aclnnInplaceMaskedFillScalar", workspaceSize, executor));
    FK_TRY(fk_op_tensor(&o, 0, "selfRef", selfRef, false));
    FK_TRY(fk_op_tensor(&o, 1, "mask", mask, false));
    FK_TRY(fk_op_scalar(&o, "value", value, &o.e->f[0], NULL));
    FK_TRY(fk_arith_arg(&o, "selfRef", selfRef->dt));
    if (mask->dt != ACL_BOOL)
        return fk_op_err(&o, ACLNN_ERR_PARAM_INVALID, "mask has dtype %s; BOOL expected", fk_dtname(mask->dt));
    if (!fk_bshape(selfRef, mask, o.e->arr, &nd) || !fk_dimsare(selfRef, o.e->arr, nd))
        return fk_op_err(&o, ACLNN_ERR_PARAM_INVALID, "mask %s does not broadcast to selfRef %s",
                         fk_shapestr(mask, b1, sizeof b1), fk_shapestr(selfRef, b2, sizeof b2));
    o.e->narr = nd;
    return fk_op_end(&o, k_maskfill, 0);
}
FK_SECOND(aclnnInplaceMaskedFillScalar)

aclnnStatus aclnnGeluV2GetWorkspaceSize(const aclTensor *x, int64_t approximate, aclTensor *y, uint64_t *workspaceSize,
                                        aclOpExecutor **executor) {
    fk_op o;
    FK_TRY(fk_op_begin(&o, "aclnnGeluV2", workspaceSize, executor));
    FK_TRY(fk_op_tensor(&o, 0, "x", x, false));
    FK_TRY(fk_op_tensor(&o, 1, "y", y, false));
    FK_TRY(fk_float_arg(&o, "x", x->dt));
    FK_TRY(fk_float_arg(&o, "y", y->dt));
    if (x->dt != y->dt)
        return fk_op_err(&o, ACLNN_ERR_PARAM_INVALID, "y has dtype %s, x %s: they must match", fk_dtname(y->dt),
                         fk_dtname(x->dt));
    FK_TRY(fk_sameshape_err(&o, "x", x, "y", y));
    if (approximate != 0 && approximate != 1)
        return fk_op_err(&o, ACLNN_ERR_PARAM_INVALID, "approximate is %lld; 0 (none) or 1 (tanh) expected",
                         (long long)approximate);
    o.e->n[0] = approximate ? UN_GELU_TANH : UN_GELU_ERF;
    return fk_op_end(&o, k_unary, 0);
}
FK_SECOND(aclnnGeluV2)

/* tv[0] gradOutput, tv[1] self, tv[2] gradInput; n[0] 1 = tanh. */
static int k_gelu_back(aclOpExecutor *e, fk_tv *tv, char *msg, size_t n) {
    (void)msg;
    (void)n;
    for (int64_t i = 0; i < tv[2].numel; i++) {
        double g = fk_ld(&tv[0], fk_off(&tv[0], i)), x = fk_ld(&tv[1], fk_off(&tv[1], i)), d;
        if (e->n[0]) {
            double t = tanh(fk_k0 * (x + fk_k1 * x * x * x));
            d = 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * fk_k0 * (1 + 3 * fk_k1 * x * x);
        } else {
            d = 0.5 * (1 + erf(x * 0.7071067811865476)) + x * exp(-0.5 * x * x) * 0.3989422804014327;
        }
        fk_st(&tv[2], fk_off(&tv[2], i), g * d);
    }
    return 0;
}

aclnnStatus aclnnGeluBackwardV2GetWorkspaceSize(const aclTensor *gradOutput, const aclTensor *self, char *approximate,
                                                aclTensor *gradInput, uint64_t *workspaceSize, aclOpExecutor **executor) {
    fk_op o;
    FK_TRY(fk_op_begin(&o, "aclnnGeluBackwardV2", workspaceSize, executor));
    FK_TRY(fk_op_tensor(&o, 0, "gradOutput", gradOutput, false));
    FK_TRY(fk_op_tensor(&o, 1, "self", self, false));
    FK_TRY(fk_op_tensor(&o, 2, "gradInput", gradInput, false));
    if (approximate == NULL)
        return fk_op_err(&o, ACLNN_ERR_PARAM_NULLPTR, "approximate is NULL");
    if (strcmp(approximate, "none") != 0 && strcmp(approximate, "tanh") != 0)
        return fk_op_err(&o, ACLNN_ERR_PARAM_INVALID, "approximate is \"%.32s\"; \"none\" or \"tanh\" expected", approximate);
    FK_TRY(fk_float_arg(&o, "gradOutput", gradOutput->dt));
    FK_TRY(fk_float_arg(&o, "self", self->dt));
    FK_TRY(fk_float_arg(&o, "gradInput", gradInput->dt));
    if (gradOutput->dt != self->dt || gradInput->dt != self->dt)
        return fk_op_err(&o, ACLNN_ERR_PARAM_INVALID, "gradOutput, self and gradInput must have one dtype");
    FK_TRY(fk_sameshape_err(&o, "gradOutput", gradOutput, "self", self));
    FK_TRY(fk_sameshape_err(&o, "gradInput", gradInput, "self", self));
    o.e->n[0] = strcmp(approximate, "tanh") == 0;
    return fk_op_end(&o, k_gelu_back, 0);
}
FK_SECOND(aclnnGeluBackwardV2)
