/*
 * num.c: number formats (float16, bfloat16, HF32 rounding, all round to
 * nearest, ties to even) and strided element access for the kernels.
 */
#include "fake.h"

float fk_h2f(uint16_t h) {
    int sign = h >> 15, exp = (h >> 10) & 31, man = h & 1023;
    float v;
    if (exp == 31)
        v = man ? NAN : INFINITY;
    else if (exp == 0)
        v = ldexpf((float)man, -24);
    else
        v = ldexpf((float)(man | 1024), exp - 25);
    return sign ? -v : v;
}

float fk_bf2f(uint16_t h) {
    uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

/* fk_round rounds x to a binary format with mant fraction bits, minimum
 * normal exponent emin (subnormals below it) and largest finite value maxv,
 * ties to even; beyond maxv it overflows to infinity as IEEE rounding does. */
double fk_round(double x, int mant, int emin, double maxv) {
    if (!isfinite(x) || x == 0)
        return x;
    int e = ilogb(x);
    if (e < emin)
        e = emin;
    double r = scalbn(nearbyint(scalbn(x, mant - e)), e - mant);
    if (fabs(r) > maxv)
        return copysign(INFINITY, x);
    return r;
}

/* fk_round_fp16 rounds x to fp16; in saturation mode (fk_g.saturate) a
 * value beyond its range (Inf included) becomes ±65504 and NaN 0, raising
 * the overflow flag, as the 910 computes. */
double fk_round_fp16(double x) {
    if (fk_g.saturate) {
        if (isnan(x)) {
            fk_g.overflow = 1;
            return 0;
        }
        double r = fk_round(x, 10, -14, 65504.0);
        if (isinf(r)) {
            fk_g.overflow = 1;
            return copysign(65504.0, x);
        }
        return r;
    }
    return fk_round(x, 10, -14, 65504.0);
}
double fk_round_hf32(double x) { return fk_round(x, 10, -126, ldexp(2.0 - ldexp(1, -10), 127)); }
static double fk_round_bf16(double x) { return fk_round(x, 7, -126, ldexp(2.0 - ldexp(1, -7), 127)); }

uint16_t fk_f2h(double x) {
    if (isnan(x) && !fk_g.saturate)
        return signbit(x) ? 0xfe00 : 0x7e00;
    double r = fk_round_fp16(x);
    uint16_t sign = signbit(r) ? 0x8000 : 0;
    r = fabs(r);
    if (isinf(r))
        return sign | 0x7c00;
    if (r < ldexp(1, -14)) /* subnormal or zero: an exact multiple of 2^-24 */
        return sign | (uint16_t)ldexp(r, 24);
    int e = ilogb(r);
    return sign | (uint16_t)((e + 15) << 10) | (uint16_t)(ldexp(r, 10 - e) - 1024);
}

uint16_t fk_f2bf(double x) {
    if (isnan(x))
        return signbit(x) ? 0xffc0 : 0x7fc0;
    float f = (float)fk_round_bf16(x); /* exact: a bf16 value is a float */
    uint32_t u;
    memcpy(&u, &f, 4);
    return (uint16_t)(u >> 16);
}

double fk_ld(const fk_tv *t, int64_t off) {
    const char *p = t->p + off * (int64_t)fk_esize(t->dt);
    switch (t->dt) {
    case ACL_FLOAT: {
        float v;
        memcpy(&v, p, 4);
        return v;
    }
    case ACL_FLOAT16: {
        uint16_t v;
        memcpy(&v, p, 2);
        return fk_h2f(v);
    }
    case ACL_BF16: {
        uint16_t v;
        memcpy(&v, p, 2);
        return fk_bf2f(v);
    }
    case ACL_DOUBLE: {
        double v;
        memcpy(&v, p, 8);
        return v;
    }
    case ACL_INT8:
        return *(const int8_t *)p;
    case ACL_UINT8:
        return *(const uint8_t *)p;
    case ACL_BOOL:
        return *(const uint8_t *)p != 0;
    case ACL_INT16: {
        int16_t v;
        memcpy(&v, p, 2);
        return v;
    }
    case ACL_UINT16: {
        uint16_t v;
        memcpy(&v, p, 2);
        return v;
    }
    case ACL_INT32: {
        int32_t v;
        memcpy(&v, p, 4);
        return v;
    }
    case ACL_UINT32: {
        uint32_t v;
        memcpy(&v, p, 4);
        return v;
    }
    case ACL_INT64: {
        int64_t v;
        memcpy(&v, p, 8);
        return (double)v;
    }
    case ACL_UINT64: {
        uint64_t v;
        memcpy(&v, p, 8);
        return (double)v;
    }
    default:
        return NAN;
    }
}

/* Integer stores truncate toward zero as a cast does (NaN and out of range
 * give 0, where C would be undefined). */
static int64_t fk_trunc(double v, double lo, double hi) {
    if (!(v >= lo && v <= hi))
        return 0;
    return (int64_t)v;
}

void fk_st(const fk_tv *t, int64_t off, double v) {
    char *p = t->p + off * (int64_t)fk_esize(t->dt);
    switch (t->dt) {
    case ACL_FLOAT: {
        float f = (float)v;
        memcpy(p, &f, 4);
        break;
    }
    case ACL_FLOAT16: {
        uint16_t h = fk_f2h(v);
        memcpy(p, &h, 2);
        break;
    }
    case ACL_BF16: {
        uint16_t h = fk_f2bf(v);
        memcpy(p, &h, 2);
        break;
    }
    case ACL_DOUBLE:
        memcpy(p, &v, 8);
        break;
    case ACL_BOOL:
        *(uint8_t *)p = v != 0;
        break;
    case ACL_INT8:
        *(int8_t *)p = (int8_t)fk_trunc(v, -128, 127);
        break;
    case ACL_UINT8:
        *(uint8_t *)p = (uint8_t)fk_trunc(v, 0, 255);
        break;
    case ACL_INT16: {
        int16_t x = (int16_t)fk_trunc(v, -32768, 32767);
        memcpy(p, &x, 2);
        break;
    }
    case ACL_UINT16: {
        uint16_t x = (uint16_t)fk_trunc(v, 0, 65535);
        memcpy(p, &x, 2);
        break;
    }
    case ACL_INT32: {
        int32_t x = (int32_t)fk_trunc(v, -2147483648.0, 2147483647.0);
        memcpy(p, &x, 4);
        break;
    }
    case ACL_UINT32: {
        uint32_t x = (uint32_t)fk_trunc(v, 0, 4294967295.0);
        memcpy(p, &x, 4);
        break;
    }
    case ACL_INT64: {
        int64_t x = fk_trunc(v, -9.2e18, 9.2e18);
        memcpy(p, &x, 8);
        break;
    }
    case ACL_UINT64: {
        uint64_t x = (uint64_t)fk_trunc(v, 0, 9.2e18);
        memcpy(p, &x, 8);
        break;
    }
    default:
        break;
    }
}

/* fk_off maps a row-major linear index of the view to an element offset. */
int64_t fk_off(const fk_tv *t, int64_t lin) {
    int64_t o = 0;
    for (int d = t->nd - 1; d >= 0; d--) {
        int64_t n = t->dims[d];
        o += (lin % n) * t->strides[d];
        lin /= n;
    }
    return o;
}

/* fk_bcast views in with shape dims (NumPy broadcasting: aligned on the
 * right, size-1 and missing dimensions repeat with stride 0). */
fk_tv fk_bcast(const fk_tv *in, const int64_t *dims, int nd) {
    fk_tv o = *in;
    o.nd = nd;
    o.numel = 1;
    for (int d = 0; d < nd; d++) {
        int k = d - (nd - in->nd);
        o.dims[d] = dims[d];
        o.strides[d] = k >= 0 && in->dims[k] == dims[d] ? in->strides[k] : 0;
        o.numel *= dims[d];
    }
    return o;
}

/* fk_split cuts a view into the dimensions not marked inner (outer) and
 * those marked (inner): element (o, i) is at fk_off(outer,o)+fk_off(inner,i). */
void fk_split(const fk_tv *in, const bool *inner, fk_tv *outer, fk_tv *in_) {
    *outer = *in;
    *in_ = *in;
    outer->nd = in_->nd = 0;
    outer->numel = in_->numel = 1;
    for (int d = 0; d < in->nd; d++) {
        fk_tv *t = inner[d] ? in_ : outer;
        t->dims[t->nd] = in->dims[d];
        t->strides[t->nd] = in->strides[d];
        t->numel *= in->dims[d];
        t->nd++;
    }
}
