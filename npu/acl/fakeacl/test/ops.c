/*
 * ops.c: every operator against a straightforward reference, on small odd
 * shapes with strided views, offsets and broadcasting.
 */
#include "t.h"

#include <stdint.h>

/* A float tensor on the device holding host values h (n of them), viewed
 * with dims/strides/offset. */
static aclTensor *t_view(const float *h, int n, int nd, const int64_t *dims, const int64_t *strides, int64_t off, void **dp) {
    void *d = t_dev(h, (size_t)n * sizeof(float));
    if (dp != NULL)
        *dp = d;
    return t_tensor(d, ACL_FLOAT, nd, dims, strides, off, n);
}

static aclTensor *t_out(int n, int nd, const int64_t *dims, void **dp) {
    *dp = t_alloc((size_t)(n > 0 ? n : 1) * sizeof(float));
    return t_tensor(*dp, ACL_FLOAT, nd, dims, NULL, 0, n > 0 ? n : 1);
}

static void t_read(float *h, void *d, int n) { t_host(h, d, (size_t)n * sizeof(float)); }

/* Binary operators with broadcasting: self (3,1,5), other (4,5) as the
 * transpose of a (5,4) storage, out (3,4,5). */
static void t_binary(void) {
    t_setup(1);
    float s[15], o[20], got[60];
    double want[60];
    t_fill(s, 15, 1);
    t_fill(o, 20, 2);
    for (int i = 0; i < 20; i++)
        o[i] += o[i] >= 0 ? 0.5f : -0.5f; /* no division by zero */
    int64_t sd[3] = {3, 1, 5}, od[2] = {4, 5}, ost[2] = {1, 4}, outd[3] = {3, 4, 5};
    aclTensor *ts = t_view(s, 15, 3, sd, NULL, 0, NULL), *to = t_view(o, 20, 2, od, ost, 0, NULL);
    void *dout;
    aclTensor *tout = t_out(60, 3, outd, &dout);
    for (int op = 0; op < 4; op++) {
        double alpha = op == 0 ? 0.5 : 2;
        if (op == 0)
            RUN(aclnnAdd, ts, to, t_double(alpha), tout);
        else if (op == 1)
            RUN(aclnnSub, ts, to, t_double(alpha), tout);
        else if (op == 2)
            RUN(aclnnMul, ts, to, tout);
        else
            RUN(aclnnDiv, ts, to, tout);
        t_read(got, dout, 60);
        for (int i = 0; i < 3; i++)
            for (int j = 0; j < 4; j++)
                for (int k = 0; k < 5; k++) {
                    double x = s[i * 5 + k], y = o[k * 4 + j];
                    want[(i * 4 + j) * 5 + k] = op == 0 ? x + alpha * y : op == 1 ? x - alpha * y : op == 2 ? x * y : x / y;
                }
        t_near(op == 0 ? "Add" : op == 1 ? "Sub" : op == 2 ? "Mul" : "Div", got, want, 60, 1e-6);
    }
    /* InplaceAdd: out += 0.25 * other, other broadcast over the batch. */
    RUN(aclnnInplaceAdd, tout, to, t_double(0.25));
    float before[60];
    memcpy(before, got, sizeof got);
    t_read(got, dout, 60);
    for (int i = 0; i < 60; i++)
        want[i] = (double)before[i] + 0.25 * o[(i % 5) * 4 + (i / 5) % 4];
    t_near("InplaceAdd", got, want, 60, 1e-6);
    /* Refusals. */
    int64_t bad[2] = {3, 2}, four = 4;
    aclTensor *t32 = t_view(s, 15, 2, bad, NULL, 0, NULL), *t4 = t_view(s, 15, 1, &four, NULL, 0, NULL);
    REFUSED(aclnnAdd, "do not broadcast", t32, t4, t_double(1), tout);
    REFUSED(aclnnAdd, "broadcast to another shape", ts, to, t_double(1), t4);
    REFUSED(aclnnInplaceAdd, "broadcast to another shape", to, ts, t_double(1));
    void *di = t_alloc(64);
    aclTensor *ti = t_tensor(di, ACL_INT32, 1, &four, NULL, 0, 4);
    REFUSED(aclnnAdd, "alpha is a floating-point", ti, ti, t_double(1.5), ti);
    REFUSED(aclnnDiv, "cannot be cast", ti, ti, ti);
    /* FLOAT16 self + FLOAT other promote to FLOAT, rounded into a FLOAT16 out. */
    uint16_t h[5], hgot[5];
    for (int i = 0; i < 5; i++)
        h[i] = t_f2h(s[i]);
    void *dh = t_dev(h, sizeof h), *dho = t_alloc(sizeof h);
    int64_t five = 5;
    aclTensor *th = t_tensor(dh, ACL_FLOAT16, 1, &five, NULL, 0, 5), *tho = t_tensor(dho, ACL_FLOAT16, 1, &five, NULL, 0, 5),
              *tf = t_view(o, 20, 1, &five, NULL, 3, NULL);
    RUN(aclnnAdd, th, tf, t_double(1), tho);
    t_host(hgot, dho, sizeof hgot);
    for (int i = 0; i < 5; i++)
        CHECK(hgot[i] == t_f2h((float)((double)t_h2f(h[i]) + o[3 + i])), "fp16 Add[%d]", i);
}

/* Scalar and unary operators on strided views. */
static void t_unary(void) {
    t_setup(1);
    float x[12], got[12];
    double want[12];
    t_fill(x, 12, 5);
    /* InplaceMuls on every other element. */
    int64_t six = 6, two = 2;
    void *dx;
    aclTensor *tx = t_view(x, 12, 1, &six, &two, 0, &dx);
    RUN(aclnnInplaceMuls, tx, t_double(-3));
    t_read(got, dx, 12);
    for (int i = 0; i < 12; i++)
        want[i] = i % 2 ? x[i] : -3.0 * x[i];
    t_near("InplaceMuls", got, want, 12, 1e-7);
    /* Adds, Exp, Sqrt on the transpose of a (4,3) storage. */
    int64_t d[2] = {3, 4}, st[2] = {1, 3};
    aclTensor *tt = t_view(x, 12, 2, d, st, 0, NULL);
    void *dout;
    aclTensor *tout = t_out(12, 2, d, &dout);
    for (int op = 0; op < 3; op++) {
        if (op == 0)
            RUN(aclnnAdds, tt, t_double(1.5), t_double(2), tout);
        else if (op == 1)
            RUN(aclnnExp, tt, tout);
        else
            RUN(aclnnSqrt, tt, tout);
        t_read(got, dout, 12);
        for (int i = 0; i < 3; i++)
            for (int j = 0; j < 4; j++) {
                double v = x[j * 3 + i];
                want[i * 4 + j] = op == 0 ? v + 3 : op == 1 ? exp(v) : sqrt(v);
            }
        t_near(op == 0 ? "Adds" : op == 1 ? "Exp" : "Sqrt", got, want, 12, 1e-6);
    }
    REFUSED(aclnnExp, "same shape", tt, tx);
}

/* Cast: round to nearest even, overflow, subnormals, and back. */
static void t_cast(void) {
    t_setup(1);
    float v[10] = {1 + 0x1p-11f, 1 + 3 * 0x1p-11f, 65520, 65519, 0x1p-25f, 3 * 0x1p-26f, -0.0f, 1 + 0x1p-8f, 1 + 3 * 0x1p-8f, 0};
    uint16_t wh[10] = {0x3c00, 0x3c02, 0x7c00, 0x7bff, 0, 1, 0x8000, 0x3c04, 0x3c0c, 0};
    uint16_t wb[10] = {0x3f80, 0x3f80, 0x4780, 0x4780, 0x3300, 0x3340, 0x8000, 0x3f80, 0x3f82, 0};
    v[9] = NAN;
    int64_t n = 10;
    void *dv = t_dev(v, sizeof v), *dh = t_alloc(20), *db = t_alloc(20), *df = t_alloc(40);
    aclTensor *tv = t_tensor(dv, ACL_FLOAT, 1, &n, NULL, 0, 10), *th = t_tensor(dh, ACL_FLOAT16, 1, &n, NULL, 0, 10),
              *tb = t_tensor(db, ACL_BF16, 1, &n, NULL, 0, 10), *tf = t_tensor(df, ACL_FLOAT, 1, &n, NULL, 0, 10);
    RUN(aclnnCast, tv, ACL_FLOAT16, th);
    RUN(aclnnCast, tv, ACL_BF16, tb);
    uint16_t h[10], b[10];
    t_host(h, dh, sizeof h);
    t_host(b, db, sizeof b);
    for (int i = 0; i < 9; i++) {
        CHECK(h[i] == wh[i] && h[i] == t_f2h(v[i]), "fp16(%a) = %#x, want %#x", (double)v[i], h[i], wh[i]);
        CHECK(b[i] == wb[i] && b[i] == t_f2bf(v[i]), "bf16(%a) = %#x, want %#x", (double)v[i], b[i], wb[i]);
    }
    CHECK((h[9] & 0x7c00) == 0x7c00 && (h[9] & 0x3ff) && (b[9] & 0x7f80) == 0x7f80 && (b[9] & 0x7f), "NaN stays NaN");
    float f[10];
    RUN(aclnnCast, th, ACL_FLOAT, tf);
    t_read(f, df, 10);
    for (int i = 0; i < 9; i++)
        CHECK(f[i] == t_h2f(wh[i]) || (f[i] == 0 && wh[i] == 0), "widen fp16 %#x = %g", wh[i], f[i]);
    RUN(aclnnCast, tb, ACL_FLOAT, tf);
    t_read(f, df, 10);
    for (int i = 0; i < 9; i++)
        CHECK(f[i] == t_bf2f(wb[i]), "widen bf16 %#x = %g", wb[i], f[i]);
    REFUSED(aclnnCast, "not the dtype", tv, ACL_FLOAT16, tb);
}

/* InplaceCopy strided to strided with conversion, and broadcast. */
static void t_copy(void) {
    t_setup(1);
    float x[12], got[12];
    double want[12];
    t_fill(x, 12, 9);
    int64_t d[2] = {3, 4}, st[2] = {1, 3}, four = 4;
    aclTensor *src = t_view(x, 12, 2, d, st, 0, NULL);
    void *dh = t_alloc(24);
    aclTensor *dst = t_tensor(dh, ACL_FLOAT16, 2, d, st, 0, 12);
    RUN(aclnnInplaceCopy, dst, src);
    uint16_t h[12];
    t_host(h, dh, sizeof h);
    for (int i = 0; i < 12; i++)
        CHECK(h[i] == t_f2h(x[i]), "copy: h[%d] = %#x, want %#x", i, h[i], t_f2h(x[i]));
    void *dout;
    aclTensor *out = t_out(12, 2, d, &dout), *row = t_view(x, 12, 1, &four, NULL, 8, NULL);
    RUN(aclnnInplaceCopy, out, row);
    t_read(got, dout, 12);
    for (int i = 0; i < 12; i++)
        want[i] = x[8 + i % 4];
    t_near("broadcast copy", got, want, 12, 0);
    REFUSED(aclnnInplaceCopy, "does not broadcast", row, out);
}

/* InplaceFillScalar on a view; InplaceMaskedFillScalar with a broadcast mask. */
static void t_fill_ops(void) {
    t_setup(1);
    float x[12], got[12];
    double want[12];
    t_fill(x, 12, 4);
    int64_t d[2] = {2, 3}, st[2] = {6, 2};
    void *dx;
    aclTensor *tv = t_view(x, 12, 2, d, st, 0, &dx);
    RUN(aclnnInplaceFillScalar, tv, t_double(9.5));
    t_read(got, dx, 12);
    for (int i = 0; i < 12; i++)
        want[i] = i % 2 == 0 && i % 6 < 6 ? 9.5 : x[i];
    t_near("InplaceFillScalar", got, want, 12, 0);
    int64_t sd[2] = {3, 4}, md[2] = {1, 4};
    bool mask[4] = {1, 0, 0, 1};
    void *dm = t_dev(mask, sizeof mask), *dy;
    aclTensor *ty = t_view(x, 12, 2, sd, NULL, 0, &dy), *tm = t_tensor(dm, ACL_BOOL, 2, md, NULL, 0, 4);
    RUN(aclnnInplaceMaskedFillScalar, ty, tm, t_double(-7));
    t_read(got, dy, 12);
    for (int i = 0; i < 12; i++)
        want[i] = mask[i % 4] ? -7 : x[i];
    t_near("InplaceMaskedFillScalar", got, want, 12, 0);
    REFUSED(aclnnInplaceMaskedFillScalar, "BOOL", ty, ty, t_double(1));
}

/* ReduceSum and Amax over a permuted view: element [i,j,k] of the (3,4,5)
 * view is x[k*12 + i*4 + j]. */
static void t_reduce(void) {
    t_setup(1);
    float x[60], got[60];
    double want[60];
    t_fill(x, 60, 7);
    int64_t d[3] = {3, 4, 5}, st[3] = {4, 1, 12};
    aclTensor *tx = t_view(x, 60, 3, d, st, 0, NULL);
#define X(i, j, k) ((double)x[(k) * 12 + (i) * 4 + (j)])
    int64_t d02[2] = {0, 2}, dl = -1, four = 4, k141[3] = {1, 4, 1}, d34[2] = {3, 4}, d35[2] = {3, 5};
    aclIntArray *a02 = aclCreateIntArray(d02, 2), *al = aclCreateIntArray(&dl, 1), *all = aclCreateIntArray(NULL, 0),
                *a1 = aclCreateIntArray((int64_t[]){1}, 1);
    void *dout;
    aclTensor *o4 = t_out(4, 1, &four, &dout);
    for (int keep = 0; keep < 2; keep++) {
        aclTensor *o = keep ? t_tensor(dout, ACL_FLOAT, 3, k141, NULL, 0, 4) : o4;
        RUN(aclnnReduceSum, tx, a02, keep, ACL_FLOAT, o);
        t_read(got, dout, 4);
        for (int j = 0; j < 4; j++) {
            want[j] = 0;
            for (int i = 0; i < 3; i++)
                for (int k = 0; k < 5; k++)
                    want[j] += X(i, j, k);
        }
        t_near("ReduceSum{0,2}", got, want, 4, 1e-6);
    }
    void *dh = t_alloc(24);
    aclTensor *oh = t_tensor(dh, ACL_FLOAT16, 2, d34, NULL, 0, 12);
    RUN(aclnnReduceSum, tx, al, false, ACL_FLOAT16, oh);
    uint16_t h[12];
    t_host(h, dh, sizeof h);
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 4; j++) {
            double s = 0;
            for (int k = 0; k < 5; k++)
                s += X(i, j, k);
            CHECK(h[i * 4 + j] == t_f2h((float)s), "ReduceSum{-1} to fp16 [%d,%d]", i, j);
        }
    aclTensor *o0 = t_tensor(dout, ACL_FLOAT, 0, NULL, NULL, 0, 1);
    RUN(aclnnReduceSum, tx, all, false, ACL_FLOAT, o0);
    t_read(got, dout, 1);
    want[0] = 0;
    for (int i = 0; i < 60; i++)
        want[0] += x[i];
    t_near("ReduceSum{}", got, want, 1, 1e-6);
    REFUSED(aclnnReduceSum, "expected", tx, a02, true, ACL_FLOAT, o4);
    REFUSED(aclnnReduceSum, "not the dtype", tx, a02, false, ACL_FLOAT16, o4);
    /* Amax over dim 1, with a NaN that propagates. */
    x[2 * 12 + 1 * 4 + 3] = NAN; /* [1,3,2] */
    aclTensor *tn = t_view(x, 60, 3, d, st, 0, NULL), *o35 = t_out(15, 2, d35, &dout);
    RUN(aclnnAmax, tn, a1, false, o35);
    t_read(got, dout, 15);
    for (int i = 0; i < 3; i++)
        for (int k = 0; k < 5; k++) {
            double m = -INFINITY;
            for (int j = 0; j < 4; j++)
                m = isnan(X(i, j, k)) || X(i, j, k) > m ? X(i, j, k) : m;
            want[i * 5 + k] = m;
        }
    t_near("Amax", got, want, 15, 0);
    CHECK(isnan(got[1 * 5 + 2]), "Amax lost the NaN");
#undef X
}

/* Softmax, LogSoftmax, SoftmaxBackward over dims 1 and -1 of a permuted
 * (3,5,2) view: [i,j,k] = x[k*15 + i*5 + j]. */
static void t_softmax(void) {
    t_setup(1);
    float x[30], g[30], y[30], got[30];
    double want[30];
    t_fill(x, 30, 11);
    t_fill(g, 30, 12);
    int64_t d[3] = {3, 5, 2}, st[3] = {5, 1, 15};
    aclTensor *tx = t_view(x, 30, 3, d, st, 0, NULL), *tg = t_view(g, 30, 3, d, NULL, 0, NULL);
    void *dy, *dout;
    aclTensor *ty = t_out(30, 3, d, &dy), *tout = t_out(30, 3, d, &dout);
#define X(i, j, k) ((double)x[(k) * 15 + (i) * 5 + (j)])
    for (int dim = 1; dim <= 2; dim++) {
        for (int logf_ = 0; logf_ < 2; logf_++) {
            if (logf_)
                RUN(aclnnLogSoftmax, tx, dim == 2 ? -1 : 1, tout);
            else
                RUN(aclnnSoftmax, tx, dim == 2 ? -1 : 1, tout);
            t_read(got, dout, 30);
            for (int i = 0; i < 3; i++)
                for (int j = 0; j < 5; j++)
                    for (int k = 0; k < 2; k++) {
                        double m = -INFINITY, s = 0;
                        int n = dim == 1 ? 5 : 2;
                        for (int r = 0; r < n; r++)
                            m = fmax(m, dim == 1 ? X(i, r, k) : X(i, j, r));
                        for (int r = 0; r < n; r++)
                            s += exp((dim == 1 ? X(i, r, k) : X(i, j, r)) - m);
                        double z = X(i, j, k) - m;
                        want[(i * 5 + j) * 2 + k] = logf_ ? z - log(s) : exp(z) / s;
                    }
            t_near(logf_ ? "LogSoftmax" : "Softmax", got, want, 30, 1e-6);
        }
    }
    RUN(aclnnSoftmax, tx, 1, ty);
    t_read(y, dy, 30);
    RUN(aclnnSoftmaxBackward, tg, ty, 1, tout);
    t_read(got, dout, 30);
    for (int i = 0; i < 3; i++)
        for (int k = 0; k < 2; k++) {
            double dot = 0;
            for (int j = 0; j < 5; j++)
                dot += (double)g[(i * 5 + j) * 2 + k] * y[(i * 5 + j) * 2 + k];
            for (int j = 0; j < 5; j++)
                want[(i * 5 + j) * 2 + k] = y[(i * 5 + j) * 2 + k] * (g[(i * 5 + j) * 2 + k] - dot);
        }
    t_near("SoftmaxBackward", got, want, 30, 1e-6);
    REFUSED(aclnnSoftmax, "out of range", tx, 3, tout);
#undef X
}

/* LayerNorm over the last one and two dimensions of a (3,2,5) view at
 * offset 7, and its backward with every output mask. */
static void t_layernorm(void) {
    t_setup(1);
    float x[37], w[10], b[10], go[30], got[30], mean[6], rstd[6];
    double want[30];
    t_fill(x, 37, 21);
    t_fill(w, 10, 22);
    t_fill(b, 10, 23);
    t_fill(go, 30, 24);
    int64_t d[3] = {3, 2, 5}, sd[3] = {3, 2, 1}, five = 5, ns2[2] = {2, 5}, sd1[3] = {3, 1, 1};
    aclTensor *tx = t_view(x, 37, 3, d, NULL, 7, NULL), *tgo = t_view(go, 30, 3, d, NULL, 0, NULL);
    void *dw, *dout, *dm, *dr, *dgi, *dgw, *dgb;
    aclTensor *tw = t_view(w, 10, 1, &five, NULL, 0, &dw), *tb = t_view(b, 10, 1, &five, NULL, 5, NULL);
    aclTensor *tout = t_out(30, 3, d, &dout), *tm = t_out(6, 3, sd, &dm), *tr = t_out(6, 3, sd, &dr);
    aclIntArray *ns = aclCreateIntArray(&five, 1), *nsb = aclCreateIntArray(ns2, 2);
    double eps = 1e-5;
    RUN(aclnnLayerNorm, tx, ns, tw, tb, eps, tout, tm, tr);
    t_read(got, dout, 30);
    t_read(mean, dm, 6);
    t_read(rstd, dr, 6);
    double wm[6], wr[6];
    for (int r = 0; r < 6; r++) {
        const float *row = x + 7 + r * 5;
        double m = 0, v = 0;
        for (int i = 0; i < 5; i++)
            m += row[i];
        m /= 5;
        for (int i = 0; i < 5; i++)
            v += (row[i] - m) * (row[i] - m);
        wm[r] = m;
        wr[r] = 1 / sqrt(v / 5 + eps);
        for (int i = 0; i < 5; i++)
            want[r * 5 + i] = (row[i] - m) * wr[r] * w[i] + b[5 + i];
    }
    t_near("LayerNorm out", got, want, 30, 1e-6);
    t_near("LayerNorm mean", mean, wm, 6, 1e-6);
    t_near("LayerNorm rstd", rstd, wr, 6, 1e-6);
    /* Backward, all outputs. */
    aclTensor *tgi = t_out(30, 3, d, &dgi), *tgw = t_out(5, 1, &five, &dgw), *tgb = t_out(5, 1, &five, &dgb);
    bool all[3] = {1, 1, 1}, onlyx[3] = {1, 0, 0}, onlyw[3] = {0, 1, 1};
    RUN(aclnnLayerNormBackward, tgo, tx, ns, tm, tr, tw, tb, aclCreateBoolArray(all, 3), tgi, tgw, tgb);
    float gi[30], gw[5], gb[5];
    t_read(gi, dgi, 30);
    t_read(gw, dgw, 5);
    t_read(gb, dgb, 5);
    double wgi[30], wgw[5] = {0}, wgb[5] = {0};
    for (int r = 0; r < 6; r++) {
        const float *row = x + 7 + r * 5, *g = go + r * 5;
        double a = 0, c = 0, xh[5];
        for (int i = 0; i < 5; i++) {
            xh[i] = (row[i] - (double)mean[r]) * rstd[r];
            a += g[i] * w[i];
            c += g[i] * w[i] * xh[i];
            wgw[i] += g[i] * xh[i];
            wgb[i] += g[i];
        }
        for (int i = 0; i < 5; i++)
            wgi[r * 5 + i] = rstd[r] * (g[i] * w[i] - a / 5 - xh[i] * c / 5);
    }
    t_near("LayerNormBackward gradInput", gi, wgi, 30, 1e-5);
    t_near("LayerNormBackward gradWeight", gw, wgw, 5, 1e-5);
    t_near("LayerNormBackward gradBias", gb, wgb, 5, 1e-6);
    RUN(aclnnLayerNormBackward, tgo, tx, ns, tm, tr, tw, NULL, aclCreateBoolArray(onlyx, 3), tgi, NULL, NULL);
    RUN(aclnnLayerNormBackward, tgo, tx, ns, tm, tr, NULL, NULL, aclCreateBoolArray(onlyw, 3), NULL, tgw, tgb);
    t_read(gw, dgw, 5);
    t_near("LayerNormBackward gradWeight (no weight)", gw, wgw, 5, 1e-5);
    uint64_t ws;
    aclOpExecutor *ex;
    FAILS(aclnnLayerNormBackwardGetWorkspaceSize(tgo, tx, ns, tm, tr, tw, NULL, aclCreateBoolArray(all, 3), tgi, NULL, tgb,
                                                 &ws, &ex),
          ACLNN_ERR_PARAM_NULLPTR, "gradWeightOut");
    /* Two normalized dimensions: statistics (3,1,1). */
    void *dw2;
    aclTensor *tw2 = t_view(w, 10, 2, ns2, NULL, 0, &dw2), *tm1 = t_out(3, 3, sd1, &dm);
    RUN(aclnnLayerNorm, tx, nsb, tw2, NULL, eps, tout, tm1, NULL);
    t_read(got, dout, 30);
    for (int r = 0; r < 3; r++) {
        const float *row = x + 7 + r * 10;
        double m = 0, v = 0;
        for (int i = 0; i < 10; i++)
            m += row[i];
        m /= 10;
        for (int i = 0; i < 10; i++)
            v += (row[i] - m) * (row[i] - m);
        for (int i = 0; i < 10; i++)
            want[r * 10 + i] = (row[i] - m) / sqrt(v / 10 + eps) * w[i];
    }
    t_near("LayerNorm (2,5)", got, want, 30, 1e-6);
    REFUSED(aclnnLayerNorm, "expected", tx, ns, tw, tb, eps, tout, tm1, NULL);
    REFUSED(aclnnLayerNorm, "normalizedShape", tx, nsb, tw, NULL, eps, tout, NULL, NULL);
}

static double t_gelu(double x, int tanhf_) {
    if (tanhf_)
        return 0.5 * x * (1 + tanh(sqrt(2 / M_PI) * (x + 0.044715 * x * x * x)));
    return 0.5 * x * (1 + erf(x / sqrt(2)));
}

/* GeluV2 (erf and tanh) and GeluBackwardV2 against a central difference. */
static void t_gelu_ops(void) {
    t_setup(1);
    float x[7], g[7], got[7];
    double want[7];
    t_fill(x, 7, 31);
    t_fill(g, 7, 32);
    int64_t n = 7;
    void *dout;
    aclTensor *tx = t_view(x, 7, 1, &n, NULL, 0, NULL), *tg = t_view(g, 7, 1, &n, NULL, 0, NULL), *to = t_out(7, 1, &n, &dout);
    for (int a = 0; a < 2; a++) {
        RUN(aclnnGeluV2, tx, a, to);
        t_read(got, dout, 7);
        for (int i = 0; i < 7; i++)
            want[i] = t_gelu(x[i], a);
        t_near("GeluV2", got, want, 7, 1e-6);
        RUN(aclnnGeluBackwardV2, tg, tx, a ? "tanh" : "none", to);
        t_read(got, dout, 7);
        for (int i = 0; i < 7; i++)
            want[i] = g[i] * (t_gelu(x[i] + 1e-5, a) - t_gelu(x[i] - 1e-5, a)) / 2e-5;
        t_near("GeluBackwardV2", got, want, 7, 1e-6);
    }
    REFUSED(aclnnGeluV2, "approximate", tx, 2, to);
    REFUSED(aclnnGeluBackwardV2, "approximate", tg, tx, "erf", to);
}

/* NLLLoss: (5,7) with an ignored row, weights or none, each reduction. */
static void t_nll(void) {
    t_setup(1);
    float x[35], w[7], got[5], tw;
    double want[5];
    t_fill(x, 35, 41);
    t_fill(w, 7, 42);
    for (int i = 0; i < 7; i++)
        w[i] = fabsf(w[i]) + 0.25f;
    int64_t tgt[5] = {1, -100, 6, 0, 3}, d[2] = {5, 7}, five = 5, seven = 7;
    void *dt = t_dev(tgt, sizeof tgt), *dout, *dtw;
    aclTensor *tx = t_view(x, 35, 2, d, NULL, 0, NULL), *tt = t_tensor(dt, ACL_INT64, 1, &five, NULL, 0, 5),
              *tww = t_view(w, 7, 1, &seven, NULL, 0, NULL), *to = t_out(5, 1, &five, &dout),
              *tw0 = t_out(1, 0, NULL, &dtw), *to0 = t_tensor(dout, ACL_FLOAT, 0, NULL, NULL, 0, 1);
    for (int weighted = 0; weighted < 2; weighted++)
        for (int red = 0; red < 3; red++) {
            RUN(aclnnNLLLoss, tx, tt, weighted ? tww : NULL, red, -100, red ? to0 : to, tw0);
            t_read(got, dout, red ? 1 : 5);
            t_read(&tw, dtw, 1);
            double sum = 0, tot = 0;
            for (int i = 0; i < 5; i++) {
                double wi = tgt[i] == -100 ? 0 : weighted ? w[tgt[i]] : 1;
                want[i] = tgt[i] == -100 ? 0 : -wi * x[i * 7 + tgt[i]];
                sum += want[i];
                tot += wi;
            }
            if (red)
                want[0] = red == 1 ? sum / tot : sum;
            t_near("NLLLoss", got, want, red ? 1 : 5, 1e-6);
            double wtw = red ? tot : 0;
            t_near("NLLLoss totalWeight", &tw, &wtw, 1, 1e-6);
        }
    REFUSED(aclnnNLLLoss, "reduction", tx, tt, NULL, 3, -100, to, tw0);
    REFUSED(aclnnNLLLoss, "out has shape", tx, tt, NULL, 1, -100, to, tw0);
    /* A target out of range fails the stream. */
    int64_t badt[5] = {1, 2, 7, 0, 0};
    OK(aclrtMemcpy(dt, sizeof badt, badt, sizeof badt, ACL_MEMCPY_HOST_TO_DEVICE));
    uint64_t ws;
    aclOpExecutor *ex;
    OK(aclnnNLLLossGetWorkspaceSize(tx, tt, NULL, 0, -100, to, tw0, &ws, &ex));
    OK(aclnnNLLLoss(NULL, ws, ex, NULL));
    FAILS(aclrtSynchronizeStream(NULL), ACL_ERROR_RT_AICORE_EXCEPTION, "target[2]");
}

/* Embedding (INT32 and strided INT64 ids, an id past the table gives
 * garbage), EmbeddingDenseBackward with paddingIdx and scaleGradByFreq. */
static void t_embedding(void) {
    t_setup(1);
    float w[18], got[12];
    double want[12];
    t_fill(w, 18, 51);
    int32_t ids[4] = {0, 5, 2, 7};
    int64_t d[2] = {6, 3}, id2[2] = {2, 2}, od[3] = {2, 2, 3};
    void *di = t_dev(ids, sizeof ids), *dout;
    aclTensor *tw = t_view(w, 18, 2, d, NULL, 0, NULL), *ti = t_tensor(di, ACL_INT32, 2, id2, NULL, 0, 4),
              *to = t_out(12, 3, od, &dout);
    RUN(aclnnEmbedding, tw, ti, to);
    t_read(got, dout, 12);
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++)
            want[i * 3 + j] = w[ids[i] * 3 + j];
    t_near("Embedding", got, want, 9, 0);
    uint32_t bits;
    memcpy(&bits, &got[9], 4);
    CHECK(bits == 0x5a5a5a5a, "id 7 of 6 rows gave %#x, not garbage", bits);
    int64_t ids64[6] = {4, -1, 1, -1, 3, -1}, three = 3, two = 2;
    void *d64 = t_dev(ids64, sizeof ids64), *dout2;
    aclTensor *t64 = t_tensor(d64, ACL_INT64, 1, &three, &two, 0, 6), *to2 = t_out(9, 2, (int64_t[]){3, 3}, &dout2);
    RUN(aclnnEmbedding, tw, t64, to2);
    t_read(got, dout2, 9);
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++)
            want[i * 3 + j] = w[ids64[2 * i] * 3 + j];
    t_near("Embedding int64 strided", got, want, 9, 0);
    aclTensor *tneg = t_tensor(d64, ACL_INT64, 1, &three, NULL, 0, 6);
    uint64_t ws;
    aclOpExecutor *ex;
    OK(aclnnEmbeddingGetWorkspaceSize(tw, tneg, to2, &ws, &ex));
    OK(aclnnEmbedding(NULL, ws, ex, NULL));
    FAILS(aclrtSynchronizeStream(NULL), ACL_ERROR_RT_AICORE_EXCEPTION, "negative");
}

static void t_embedding_back(void) {
    t_setup(1);
    float g[24], got[20];
    double want[20];
    t_fill(g, 24, 61);
    int64_t ids[6] = {1, 2, 1, 4, 2, 0}, gd[3] = {2, 3, 4}, id[2] = {2, 3}, od[2] = {5, 4};
    void *di = t_dev(ids, sizeof ids), *dout;
    aclTensor *tg = t_view(g, 24, 3, gd, NULL, 0, NULL), *ti = t_tensor(di, ACL_INT64, 2, id, NULL, 0, 6),
              *to = t_out(20, 2, od, &dout);
    for (int scale = 0; scale < 2; scale++) {
        RUN(aclnnEmbeddingDenseBackward, tg, ti, 5, 2, scale, to);
        t_read(got, dout, 20);
        double cnt[5] = {0};
        for (int i = 0; i < 6; i++)
            cnt[ids[i]]++;
        memset(want, 0, sizeof want);
        for (int i = 0; i < 6; i++)
            if (ids[i] != 2)
                for (int j = 0; j < 4; j++)
                    want[ids[i] * 4 + j] += g[i * 4 + j] / (scale ? cnt[ids[i]] : 1);
        t_near("EmbeddingDenseBackward", got, want, 20, 1e-6);
    }
    REFUSED(aclnnEmbeddingDenseBackward, "numWeights", tg, ti, 6, 2, false, to);
}

/* Products accumulated in float in k order, inputs rounded per mode. */
static float t_mm_ref(const float *a, const float *b, int i, int j, int K, int mode, int sa0, int sa1, int sb0, int sb1) {
    float acc = 0;
    for (int k = 0; k < K; k++) {
        float x = a[i * sa0 + k * sa1], y = b[k * sb0 + j * sb1];
        if (mode == 1)
            x = t_h2f(t_f2h(x)), y = t_h2f(t_f2h(y));
        else if (mode == 2)
            x = t_hf32(x), y = t_hf32(y);
        float p = x * y;
        acc = acc + p;
    }
    return acc;
}

/* BatchMatMul (mat2 a transposed view) in every 910B mode and in FLOAT16;
 * InplaceAddmm with beta 0 over NaN and beta 0.5. */
static void t_matmul(void) {
    t_setup(1);
    enum { B = 2, M = 3, K = 5, N = 4 };
    float a[B * M * K], b[B * N * K], got[B * M * N];
    t_fill(a, B * M * K, 71);
    t_fill(b, B * N * K, 72);
    for (int i = 0; i < B * M * K; i++)
        a[i] += 1.0f / 3;
    int64_t ad[3] = {B, M, K}, bd[3] = {B, K, N}, bst[3] = {N * K, 1, K}, cd[3] = {B, M, N};
    void *dc;
    aclTensor *ta = t_view(a, B * M * K, 3, ad, NULL, 0, NULL), *tb = t_view(b, B * N * K, 3, bd, bst, 0, NULL),
              *tc = t_out(B * M * N, 3, cd, &dc);
    int cubes[3] = {KEEP_DTYPE, USE_FP16, USE_HF32};
    for (int c = 0; c < 3; c++) {
        RUN(aclnnBatchMatMul, ta, tb, tc, cubes[c]);
        t_read(got, dc, B * M * N);
        for (int p = 0; p < B; p++)
            for (int i = 0; i < M; i++)
                for (int j = 0; j < N; j++) {
                    float w = t_mm_ref(a + p * M * K, b + p * N * K, i, j, K, c, K, 1, 1, K);
                    CHECK(got[(p * M + i) * N + j] == w, "BatchMatMul mode %d [%d,%d,%d] = %.9g, want %.9g", c, p, i, j,
                          got[(p * M + i) * N + j], w);
                }
    }
    RUN(aclnnBatchMatMul, ta, tb, tc, ALLOW_FP32_DOWN_PRECISION);
    float hf[B * M * N];
    t_read(hf, dc, B * M * N);
    CHECK(memcmp(hf, got, sizeof got) == 0, "ALLOW_FP32_DOWN_PRECISION is not HF32 on 910B");
    /* FLOAT16 operands: exact products, float sums, one rounding. */
    uint16_t ha[B * M * K], hb[B * N * K], hc[B * M * N];
    float ra[B * M * K], rb[B * N * K];
    for (int i = 0; i < B * M * K; i++)
        ha[i] = t_f2h(a[i]), ra[i] = t_h2f(ha[i]);
    for (int i = 0; i < B * N * K; i++)
        hb[i] = t_f2h(b[i]), rb[i] = t_h2f(hb[i]);
    void *dha = t_dev(ha, sizeof ha), *dhb = t_dev(hb, sizeof hb), *dhc = t_alloc(sizeof hc);
    aclTensor *tha = t_tensor(dha, ACL_FLOAT16, 3, ad, NULL, 0, B * M * K),
              *thb = t_tensor(dhb, ACL_FLOAT16, 3, bd, bst, 0, B * N * K), *thc = t_tensor(dhc, ACL_FLOAT16, 3, cd, NULL, 0, B * M * N);
    RUN(aclnnBatchMatMul, tha, thb, thc, KEEP_DTYPE);
    t_host(hc, dhc, sizeof hc);
    for (int p = 0; p < B; p++)
        for (int i = 0; i < M; i++)
            for (int j = 0; j < N; j++)
                CHECK(hc[(p * M + i) * N + j] == t_f2h(t_mm_ref(ra + p * M * K, rb + p * N * K, i, j, K, 0, K, 1, 1, K)),
                      "fp16 BatchMatMul [%d,%d,%d]", p, i, j);
    REFUSED(aclnnBatchMatMul, "one dtype", tha, tb, tc, KEEP_DTYPE);
    REFUSED(aclnnBatchMatMul, "cubeMathType", ta, tb, tc, 4);
    /* InplaceAddmm: self (M,N) fresh (NaN) with beta 0, then beta 0.5; mat1
     * the transpose of a (K,M) storage. */
    int64_t d1[2] = {M, K}, s1[2] = {1, M}, d2[2] = {K, N}, dself[2] = {M, N};
    aclTensor *m1 = t_view(a, M * K, 2, d1, s1, 0, NULL), *m2 = t_view(b, K * N, 2, d2, NULL, 0, NULL);
    void *ds = t_alloc(M * N * sizeof(float));
    aclTensor *ts = t_tensor(ds, ACL_FLOAT, 2, dself, NULL, 0, M * N);
    float s0[M * N], s1v[M * N];
    RUN(aclnnInplaceAddmm, ts, m1, m2, t_double(0), t_double(1.5), KEEP_DTYPE);
    t_read(s0, ds, M * N);
    RUN(aclnnInplaceAddmm, ts, m1, m2, t_double(0.5), t_double(2), KEEP_DTYPE);
    t_read(s1v, ds, M * N);
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            float acc = t_mm_ref(a, b, i, j, K, 0, 1, M, N, 1);
            float w0 = 1.5f * acc, half = 0.5f * w0, w1 = 2.0f * acc + half;
            CHECK(s0[i * N + j] == w0, "Addmm beta 0 [%d,%d] = %g, want %g", i, j, s0[i * N + j], w0);
            CHECK(s1v[i * N + j] == w1, "Addmm beta 0.5 [%d,%d] = %g, want %g", i, j, s1v[i * N + j], w1);
        }
    REFUSED(aclnnInplaceAddmm, "shapes", ts, m2, m1, t_double(1), t_double(1), KEEP_DTYPE);
}

/* ApplyAdamWV2 against torch.optim.AdamW's formula (plain, amsgrad,
 * maximize). */
static void t_adamw(void) {
    t_setup(1);
    enum { n = 7 };
    float p[n], m[n], v[n], g[n], mx[n], step = 3;
    t_fill(p, n, 81);
    t_fill(m, n, 82);
    t_fill(v, n, 83);
    t_fill(g, n, 84);
    for (int i = 0; i < n; i++)
        v[i] = fabsf(v[i]), mx[i] = v[i] * 1.5f;
    int64_t dn = n, one = 1;
    for (int variant = 0; variant < 3; variant++) {
        void *dp, *dm, *dv, *dx;
        aclTensor *tp = t_view(p, n, 1, &dn, NULL, 0, &dp), *tm = t_view(m, n, 1, &dn, NULL, 0, &dm),
                  *tv = t_view(v, n, 1, &dn, NULL, 0, &dv), *tg = t_view(g, n, 1, &dn, NULL, 0, NULL),
                  *tx = t_view(mx, n, 1, &dn, NULL, 0, &dx), *ts = t_view(&step, 1, 1, &one, NULL, 0, NULL);
        float lr = 1e-2f, b1 = 0.9f, b2 = 0.999f, wd = 0.1f, eps = 1e-8f;
        bool ams = variant == 1, maxi = variant == 2;
        RUN(aclnnApplyAdamWV2, tp, tm, tv, ams ? tx : NULL, tg, ts, lr, b1, b2, wd, eps, ams, maxi);
        float gp[n], gm[n], gv[n], gx[n];
        t_read(gp, dp, n);
        t_read(gm, dm, n);
        t_read(gv, dv, n);
        t_read(gx, dx, n);
        double bc1 = 1 - pow(b1, step), bc2 = 1 - pow(b2, step);
        for (int i = 0; i < n; i++) {
            double gi = maxi ? -g[i] : g[i];
            double wp = p[i] * (1 - (double)lr * wd), wm = m[i] + (1 - (double)b1) * (gi - m[i]),
                   wv = v[i] * (double)b2 + (1 - (double)b2) * gi * gi, wx = fmax(mx[i], wv);
            wp -= lr / bc1 * wm / (sqrt(ams ? wx : wv) / sqrt(bc2) + eps);
            t_near("AdamW param", &gp[i], &wp, 1, 1e-6);
            t_near("AdamW m", &gm[i], &wm, 1, 1e-6);
            t_near("AdamW v", &gv[i], &wv, 1, 1e-6);
            if (ams)
                t_near("AdamW max", &gx[i], &wx, 1, 1e-6);
        }
    }
}

/* Ascend910A still runs what it has: FLOAT16 matmuls in any mode but
 * USE_HF32-on-FLOAT, FLOAT elementwise, LogSoftmax+NLLLoss. */
static void t_ops910(void) {
    t_setup(1);
    uint16_t h[6] = {0x3c00, 0x4000, 0x4200, 0x3c00, 0x3c00, 0x3c00}, out[4];
    int64_t ad[3] = {1, 2, 3}, bd[3] = {1, 3, 2}, cd[3] = {1, 2, 2};
    void *d = t_dev(h, sizeof h), *dc = t_alloc(8);
    aclTensor *ta = t_tensor(d, ACL_FLOAT16, 3, ad, NULL, 0, 6), *tb = t_tensor(d, ACL_FLOAT16, 3, bd, NULL, 0, 6),
              *tc = t_tensor(dc, ACL_FLOAT16, 3, cd, NULL, 0, 4);
    RUN(aclnnBatchMatMul, ta, tb, tc, KEEP_DTYPE);
    t_host(out, dc, sizeof out);
    /* [[1,2,3],[1,1,1]] @ [[1,2],[3,1],[1,1]] = [[10,7],[5,4]] */
    CHECK(out[0] == t_f2h(10) && out[1] == t_f2h(7) && out[2] == t_f2h(5) && out[3] == t_f2h(4), "910 fp16 matmul");
    float x[6] = {1, 2, 3, 4, 5, 6}, got[2];
    int64_t xd[2] = {2, 3}, two = 2;
    int32_t tg[2] = {2, 0};
    void *dt = t_dev(tg, sizeof tg), *dl, *dtw, *dls;
    aclTensor *tx = t_view(x, 6, 2, xd, NULL, 0, NULL), *ttg = t_tensor(dt, ACL_INT32, 1, &two, NULL, 0, 2);
    aclTensor *tls = t_out(6, 2, xd, &dls), *tl = t_out(1, 0, NULL, &dl), *ttw = t_out(1, 0, NULL, &dtw);
    RUN(aclnnLogSoftmax, tx, 1, tls);
    RUN(aclnnNLLLoss, tls, ttg, NULL, 1, -100, tl, ttw);
    t_read(got, dl, 1);
    /* targets 2 and 0: mean of (lse(row 0) - 3) and (lse(row 1) - 4) */
    double want = ((log(exp(1) + exp(2) + exp(3)) - 3) + (log(exp(4) + exp(5) + exp(6)) - 4)) / 2;
    t_near("910 cross-entropy", got, &want, 1, 1e-6);
}

const t_case t_op_cases[] = {
    {"binary", t_binary},
    {"unary", t_unary},
    {"cast", t_cast},
    {"copy", t_copy},
    {"fill", t_fill_ops},
    {"reduce", t_reduce},
    {"softmax", t_softmax},
    {"layernorm", t_layernorm},
    {"gelu", t_gelu_ops},
    {"nll", t_nll},
    {"embedding", t_embedding},
    {"embedding_back", t_embedding_back},
    {"matmul", t_matmul},
    {"adamw", t_adamw},
    {"ops910", t_ops910},
    {NULL, NULL},
};
