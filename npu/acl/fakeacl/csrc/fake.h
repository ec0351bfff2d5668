/*
 * fake.h: the fake ACL's internal declarations, shared by its .c files.
 *
 * acl.h (an exact copy of npu/acl/acl.h, checked by a Go test) declares every
 * function of ACL_FUNCS; the definitions in these files must match those
 * declarations or they do not compile, and exports.c takes the address of
 * each, so a function missing from the fake fails the link
 * (-Wl,--no-undefined).
 */
#ifndef FAKE_ACL_FAKE_H
#define FAKE_ACL_FAKE_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include "acl.h"

#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Everything declared below is internal to libascendcl.so: only the
 * functions of ACL_FUNCS (declared above, in acl.h) are exported. */
#pragma GCC visibility push(hidden)

#define FK_MAXDIM 8 /* aclnn operators take at most 8 dimensions */
#define FK_MAXT 12  /* tensors an executor keeps */

/* Handle states: a live handle, a destroyed one, an executor already run. */
enum { FK_LIVE = 0x4c495645, FK_DEAD = 0x44454144, FK_USED = 0x55534544 };

enum { FK_SOC_910A = 1, FK_SOC_910B = 2 };

/* Byte patterns: fresh device memory and workspaces read as NaN in every
 * float format; an out-of-range embedding row reads as large finite garbage. */
enum { FK_GARBAGE = 0xff, FK_EMB_GARBAGE = 0x5a };

/* One allocation of device memory: [off, off+size) asked, span reserved. */
typedef struct fk_alloc {
    struct fk_alloc *next;
    size_t off, size, span;
    int pending; /* stream tasks that still reference it */
} fk_alloc;

typedef struct fk_ctx fk_ctx;
typedef struct fk_stream fk_stream;
typedef struct fk_task fk_task;

/* A device: one memfd mapped twice, PROT_NONE at dv (the addresses the
 * caller sees) and read-write at rw (what the kernels touch). */
typedef struct fk_dev {
    int id, fd;
    char *dv, *rw;
    size_t cap, used, handed;
    fk_alloc *allocs; /* sorted by offset */
    int setcount;     /* aclrtSetDevice and live created contexts */
    fk_ctx *defctx;
} fk_dev;

struct fk_ctx {
    unsigned magic;
    fk_dev *dev;
    int alive, isdefault, deterministic;
    fk_stream *defstream;
};

struct fk_task {
    fk_task *next;
    int (*run)(fk_task *t, char *msg, size_t msglen); /* 0 or an error code */
    void (*done)(fk_task *t);
    const char *op;
    int fail; /* injected failure */
    fk_dev *dev;
    int nref;
    fk_alloc *ref[FK_MAXT + 2];
    aclOpExecutor *exec;
    void *ws;
    char *dst;
    const char *src;
    size_t n;
    int value;
};

struct fk_stream {
    unsigned magic;
    fk_stream *nextall;
    fk_ctx *ctx;
    pthread_t th;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    fk_task *head, *tail;
    int pending, stop, err;
    char msg[512];
};

struct aclTensor {
    unsigned magic;
    aclDataType dt;
    aclFormat fmt;
    int nd, snd;
    int64_t dims[FK_MAXDIM], strides[FK_MAXDIM], sdims[FK_MAXDIM];
    int64_t offset, snumel;
    char *data; /* the device address given */
    fk_dev *dev;
};

struct aclScalar {
    unsigned magic;
    aclDataType dt;
    double v; /* the value; INT64 beyond 2^53 is not needed here */
    int64_t i;
};

struct aclIntArray {
    unsigned magic;
    uint64_t n;
    int64_t *v;
};

struct aclBoolArray {
    unsigned magic;
    uint64_t n;
    bool *v;
};

/* A tensor as a kernel sees it: element strides and the read-write address
 * of element 0 of the view. */
typedef struct fk_tv {
    aclDataType dt;
    int nd;
    int64_t dims[FK_MAXDIM], strides[FK_MAXDIM];
    int64_t numel;
    char *p;
} fk_tv;

typedef int (*fk_kernel)(aclOpExecutor *e, fk_tv *tv, char *msg, size_t msglen);

struct aclOpExecutor {
    unsigned magic;
    const char *op;
    fk_dev *dev;
    uint64_t ws;
    fk_kernel kernel;
    aclTensor t[FK_MAXT];
    bool has[FK_MAXT];
    double f[8];
    int64_t n[8];
    int64_t arr[FK_MAXDIM];
    int narr;
    bool b[4];
};

/* Configuration and state (runtime.c). */
typedef struct fk_global {
    pthread_mutex_t mu;
    int inited, finalized;
    int soc;
    char socname[32];
    int ndev;
    size_t devmem, oomafter;
    long delayus;
    char failop[64];
    long failn, failcount;
    fk_dev *devs;
    fk_stream *streams;
    /* saturation mode (the 910: CANN's only mode on its training products):
     * an fp16 result beyond its range becomes ±65504 and NaN becomes 0,
     * raising the sticky overflow flag that aclrtGetOverflowStatus reads */
    int saturate;
    _Atomic int overflow;
} fk_global;

extern fk_global fk_g;
extern _Thread_local fk_ctx *fk_cur;

/* Errors: every failure sets the calling thread's message. */
int fk_fail(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void fk_setmsg(const char *msg);

/* Runtime helpers. fk_needctx returns 0 or ACL_ERROR_RT_CONTEXT_NULL /
 * ACL_ERROR_UNINITIALIZE with the message set. */
int fk_needinit(void);
int fk_needctx(void);
fk_dev *fk_devof(const void *p);
fk_alloc *fk_allocof(fk_dev *d, const void *p); /* hold fk_g.mu */
void fk_retire(void *p);
int fk_stream_get(aclrtStream s, fk_stream **out);
void fk_enqueue(fk_stream *s, fk_task *t);
void fk_ref(fk_task *t, fk_alloc *a); /* hold fk_g.mu */
size_t fk_esize(aclDataType dt);
const char *fk_dtname(aclDataType dt);

/* Numbers (num.c). */
float fk_h2f(uint16_t h);
float fk_bf2f(uint16_t h);
uint16_t fk_f2h(double x);
uint16_t fk_f2bf(double x);
double fk_round(double x, int mant, int emin, double maxv);
double fk_round_fp16(double x);
double fk_round_hf32(double x);
double fk_ld(const fk_tv *t, int64_t off);
void fk_st(const fk_tv *t, int64_t off, double v);
int64_t fk_off(const fk_tv *t, int64_t lin);
fk_tv fk_bcast(const fk_tv *in, const int64_t *dims, int nd);
void fk_split(const fk_tv *in, const bool *inner, fk_tv *outer, fk_tv *in_);

/* Operator plumbing (op.c). */
typedef struct fk_op {
    const char *name;
    aclOpExecutor *e;
    uint64_t *wsout;
    aclOpExecutor **exout;
} fk_op;

int fk_op_begin(fk_op *o, const char *name, uint64_t *ws, aclOpExecutor **ex);
int fk_op_tensor(fk_op *o, int slot, const char *arg, const aclTensor *t, bool optional);
int fk_op_scalar(fk_op *o, const char *arg, const aclScalar *s, double *v, aclDataType *dt);
int fk_op_intarray(fk_op *o, const char *arg, const aclIntArray *a);
int fk_op_end(fk_op *o, fk_kernel k, uint64_t ws);
int fk_op_err(fk_op *o, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
int fk_launch(const char *op, void *ws, uint64_t wsn, aclOpExecutor *e, aclrtStream stream);
int fk_isfloat(aclDataType dt);
int fk_isint(aclDataType dt);
aclDataType fk_promote(aclDataType a, aclDataType b);
int fk_cancast(aclDataType from, aclDataType to);
int fk_sameshape(const aclTensor *a, const aclTensor *b);
int fk_bshape(const aclTensor *a, const aclTensor *b, int64_t *dims, int *nd);
int fk_dimsare(const aclTensor *t, const int64_t *dims, int nd);
const char *fk_shapestr(const aclTensor *t, char *buf, size_t n);
int64_t fk_numel(const aclTensor *t);

/* Every function of ACL_FUNCS (exports.c). */
extern const struct fk_export {
    const char *name;
    int lib;
    void (*fn)(void);
} fk_exports[];
extern const size_t fk_nexports;

/* Defines the second phase of an operator. */
#define FK_SECOND(name)                                                                                \
    aclnnStatus name(void *workspace, uint64_t workspaceSize, aclOpExecutor *executor, aclrtStream stream) { \
        return fk_launch(#name, workspace, workspaceSize, executor, stream);                          \
    }

#define FK_TRY(x)            \
    do {                     \
        int fk_rc_ = (x);    \
        if (fk_rc_ != 0)     \
            return fk_rc_;   \
    } while (0)

#pragma GCC visibility pop

#endif
