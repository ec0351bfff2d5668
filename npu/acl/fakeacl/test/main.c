/*
 * main.c: the test program's entry (fake_test CASE, or -list) and helpers.
 */
#include "t.h"

#include <stdint.h>

static char t_last[1024] = "(none)";

const char *t_msg(void) {
    const char *m = aclGetRecentErrMsg();
    if (m != NULL)
        snprintf(t_last, sizeof t_last, "%s", m);
    return t_last;
}

void t_setup(int deterministic) {
    OK(aclInit(NULL));
    OK(aclrtSetDevice(0));
    if (deterministic)
        OK(aclrtCtxSetSysParamOpt(ACL_OPT_DETERMINISTIC, 1));
}

void *t_alloc(size_t bytes) {
    void *p = NULL;
    OK(aclrtMalloc(&p, bytes, ACL_MEM_MALLOC_HUGE_FIRST));
    return p;
}

void *t_dev(const void *host, size_t bytes) {
    void *p = t_alloc(bytes);
    OK(aclrtMemcpy(p, bytes, host, bytes, ACL_MEMCPY_HOST_TO_DEVICE));
    return p;
}

void t_host(void *host, const void *dev, size_t bytes) {
    OK(aclrtMemcpy(host, bytes, dev, bytes, ACL_MEMCPY_DEVICE_TO_HOST));
}

aclTensor *t_tensor(void *data, aclDataType dt, int nd, const int64_t *dims, const int64_t *strides, int64_t offset,
                    int64_t storage) {
    int64_t st[8];
    int64_t s = 1;
    for (int d = nd - 1; d >= 0; d--) {
        st[d] = strides ? strides[d] : s;
        s *= dims[d];
    }
    aclTensor *t = aclCreateTensor(dims, (uint64_t)nd, dt, st, offset, ACL_FORMAT_ND, &storage, 1, data);
    CHECK(t != NULL, "aclCreateTensor failed");
    return t;
}

aclScalar *t_double(double v) {
    aclScalar *s = aclCreateScalar(&v, ACL_DOUBLE);
    CHECK(s != NULL, "aclCreateScalar");
    return s;
}

/* t_fill writes small pseudo-random values in [-2, 2). */
void t_fill(float *x, int n, unsigned seed) {
    for (int i = 0; i < n; i++) {
        seed = seed * 1103515245u + 12345u;
        x[i] = (float)((seed >> 8) % 4096) / 1024.0f - 2.0f;
    }
}

void t_near(const char *what, const float *got, const double *want, int n, double tol) {
    for (int i = 0; i < n; i++) {
        double err = fabs(got[i] - want[i]);
        CHECK(err <= tol * (1 + fabs(want[i])) || (isnan(got[i]) && isnan(want[i])), "%s[%d] = %.9g, want %.9g", what, i,
              got[i], want[i]);
    }
}

/* Half conversions of the tests' own, by bit manipulation (the fake's are
 * written with scalbn), round to nearest even. */
uint16_t t_f2h(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    uint32_t sign = (u >> 16) & 0x8000, exp = (u >> 23) & 0xff, man = u & 0x7fffff;
    if (exp == 0xff)
        return (uint16_t)(sign | 0x7c00 | (man ? 0x200 : 0));
    int e = (int)exp - 127 + 15;
    if (e >= 31)
        return (uint16_t)(sign | 0x7c00);
    if (e <= 0) {
        if (e < -10)
            return (uint16_t)sign;
        man |= 0x800000;
        int shift = 14 - e;
        uint32_t half = man >> shift, rem = man & ((1u << shift) - 1), mid = 1u << (shift - 1);
        if (rem > mid || (rem == mid && (half & 1)))
            half++;
        return (uint16_t)(sign | half);
    }
    uint32_t h = ((uint32_t)e << 10) | (man >> 13), rem = man & 0x1fff;
    if (rem > 0x1000 || (rem == 0x1000 && (h & 1)))
        h++; /* may carry into the exponent, up to infinity: right */
    return (uint16_t)(sign | h);
}

float t_h2f(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16, exp = (h >> 10) & 31, man = h & 1023, u;
    if (exp == 31)
        u = sign | 0x7f800000 | (man << 13);
    else if (exp == 0) {
        float f = (float)man / 16777216.0f;
        return sign ? -f : f;
    } else
        u = sign | ((exp + 112) << 23) | (man << 13);
    float f;
    memcpy(&f, &u, 4);
    return f;
}

uint16_t t_f2bf(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    if ((u & 0x7fffffff) > 0x7f800000)
        return (uint16_t)((u >> 16) | 0x40);
    u += 0x7fff + ((u >> 16) & 1);
    return (uint16_t)(u >> 16);
}

float t_bf2f(uint16_t h) {
    uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

/* t_hf32 rounds a float to 10 fraction bits (HF32), ties to even. */
float t_hf32(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    if ((u & 0x7f800000) == 0x7f800000)
        return f;
    u += 0xfff + ((u >> 13) & 1);
    u &= ~0x1fffu;
    memcpy(&f, &u, 4);
    return f;
}

static const t_case *t_find(const t_case *cs, const char *name) {
    for (; cs->name != NULL; cs++)
        if (strcmp(cs->name, name) == 0)
            return cs;
    return NULL;
}

int main(int argc, char **argv) {
    const t_case *tables[] = {t_rt_cases, t_op_cases};
    if (argc == 2 && strcmp(argv[1], "-list") == 0) {
        for (int i = 0; i < 2; i++)
            for (const t_case *c = tables[i]; c->name != NULL; c++)
                printf("%s\n", c->name);
        return 0;
    }
    for (int i = 0; argc == 2 && i < 2; i++) {
        const t_case *c = t_find(tables[i], argv[1]);
        if (c != NULL) {
            c->fn();
            printf("ok\n");
            return 0;
        }
    }
    fprintf(stderr, "usage: fake_test -list | CASE\n");
    return 2;
}
