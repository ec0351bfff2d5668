/*
 * t.h: helpers of the fake ACL's C tests. Each test case is a function run
 * in a process of its own (the Go test starts one per case, with the
 * environment the case needs), since aclInit may be called once.
 */
#ifndef FAKE_ACL_T_H
#define FAKE_ACL_T_H

#define _GNU_SOURCE
#include "acl.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *t_msg(void);

static inline int t_has(const char *m, const char *want) { return want == NULL || strstr(m, want) != NULL; }

#define CHECK(cond, ...)                                                       \
    do {                                                                       \
        if (!(cond)) {                                                         \
            fprintf(stderr, "%s:%d: ", __FILE__, __LINE__);                    \
            fprintf(stderr, __VA_ARGS__);                                      \
            fprintf(stderr, " [last message: %s]\n", t_msg());                 \
            exit(1);                                                           \
        }                                                                      \
    } while (0)

#define OK(call)                                                               \
    do {                                                                       \
        int rc_ = (int)(call);                                                 \
        CHECK(rc_ == 0, "%s = %d", #call, rc_);                                \
    } while (0)

/* FAILS checks the status and that a message explains it (containing
 * want, when not NULL). */
#define FAILS(call, code, want)                                                \
    do {                                                                       \
        int rc_ = (int)(call);                                                 \
        CHECK(rc_ == (code), "%s = %d, want %d", #call, rc_, (int)(code));     \
        const char *m_ = aclGetRecentErrMsg();                                 \
        CHECK(m_ != NULL && *m_ != 0, "%s: no error message", #call);          \
        CHECK(t_has(m_, (want)), "%s: message \"%s\" lacks \"%s\"", #call, m_, \
              (const char *)(want));                                           \
    } while (0)

/* RUN runs an operator on the default stream with a workspace of the
 * size asked, and waits for it. */
#define RUN(op, ...)                                                           \
    do {                                                                       \
        uint64_t ws_ = 0;                                                      \
        aclOpExecutor *ex_ = NULL;                                             \
        OK(op##GetWorkspaceSize(__VA_ARGS__, &ws_, &ex_));                     \
        void *w_ = ws_ ? t_alloc(ws_) : NULL;                                  \
        OK(op(w_, ws_, ex_, NULL));                                            \
        OK(aclrtSynchronizeStream(NULL));                                      \
        if (w_ != NULL)                                                        \
            OK(aclrtFree(w_));                                                 \
    } while (0)

/* REFUSED expects the first phase to fail with ACLNN_ERR_PARAM_INVALID
 * and a message containing want. */
#define REFUSED(op, want, ...)                                                 \
    do {                                                                       \
        uint64_t ws_ = 0;                                                      \
        aclOpExecutor *ex_ = NULL;                                             \
        FAILS(op##GetWorkspaceSize(__VA_ARGS__, &ws_, &ex_), ACLNN_ERR_PARAM_INVALID, want); \
    } while (0)

void t_setup(int deterministic);
void *t_alloc(size_t bytes);
void *t_dev(const void *host, size_t bytes);
void t_host(void *host, const void *dev, size_t bytes);
/* t_tensor: strides NULL = contiguous; storage = elements from data. */
aclTensor *t_tensor(void *data, aclDataType dt, int nd, const int64_t *dims, const int64_t *strides, int64_t offset,
                    int64_t storage);
aclScalar *t_double(double v);
void t_fill(float *x, int n, unsigned seed);
void t_near(const char *what, const float *got, const double *want, int n, double tol);
uint16_t t_f2h(float f);
float t_h2f(uint16_t h);
uint16_t t_f2bf(float f);
float t_bf2f(uint16_t h);
float t_hf32(float f);

typedef struct {
    const char *name;
    void (*fn)(void);
} t_case;

extern const t_case t_rt_cases[], t_op_cases[];

#endif
