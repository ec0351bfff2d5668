/*
 * runtime.c: the AscendCL runtime part of the fake: configuration, devices,
 * contexts, streams with their worker threads, device memory and copies,
 * and the per-thread error message.
 */
#include "fake.h"

#include <errno.h>
#include <stdint.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

fk_global fk_g = {.mu = PTHREAD_MUTEX_INITIALIZER};
_Thread_local fk_ctx *fk_cur;

static _Thread_local char fk_msg[1024];
static _Thread_local char fk_msgout[1024];
static _Thread_local int fk_hasmsg;

void fk_setmsg(const char *msg) {
    snprintf(fk_msg, sizeof fk_msg, "%s", msg);
    fk_hasmsg = 1;
}

int fk_fail(int code, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(fk_msg, sizeof fk_msg, fmt, ap);
    va_end(ap);
    fk_hasmsg = 1;
    return code;
}

/* aclGetRecentErrMsg returns the calling thread's last message once; NULL
 * when there is none. The pointer stays valid until the thread's next call. */
const char *aclGetRecentErrMsg(void) {
    if (!fk_hasmsg)
        return NULL;
    memcpy(fk_msgout, fk_msg, sizeof fk_msg);
    fk_hasmsg = 0;
    return fk_msgout;
}

/* Retired handles wait here before they are freed, so a handle destroyed
 * twice (within the last 65536 destructions) is seen as such. */
#define FK_QUARANTINE 65536
static pthread_mutex_t fk_qmu = PTHREAD_MUTEX_INITIALIZER;
static void *fk_q[FK_QUARANTINE];
static size_t fk_qn;

void fk_retire(void *p) {
    pthread_mutex_lock(&fk_qmu);
    void *old = fk_q[fk_qn % FK_QUARANTINE];
    fk_q[fk_qn % FK_QUARANTINE] = p;
    fk_qn++;
    pthread_mutex_unlock(&fk_qmu);
    free(old);
}

static long envlong(const char *name, long def, int *bad) {
    const char *s = getenv(name);
    if (s == NULL || *s == 0)
        return def;
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (*end != 0 || errno != 0 || v < 0)
        *bad = 1;
    return v;
}

static int fk_config(void) {
    int bad = 0;
    const char *soc = getenv("FAKE_ACL_SOC");
    if (soc == NULL || *soc == 0)
        soc = "Ascend910B1";
    if (strcmp(soc, "Ascend910A") == 0)
        fk_g.soc = FK_SOC_910A, fk_g.saturate = 1;
    else if (strcmp(soc, "Ascend910B1") == 0)
        fk_g.soc = FK_SOC_910B;
    else
        return fk_fail(ACL_ERROR_INVALID_PARAM, "aclInit: FAKE_ACL_SOC=%s: the fake knows Ascend910A and Ascend910B1", soc);
    snprintf(fk_g.socname, sizeof fk_g.socname, "%s", soc);
    fk_g.ndev = (int)envlong("FAKE_ACL_DEVICES", 2, &bad);
    fk_g.devmem = (size_t)envlong("FAKE_ACL_DEVICE_MEMORY", 1L << 30, &bad);
    fk_g.delayus = envlong("FAKE_ACL_STREAM_DELAY_US", 0, &bad);
    fk_g.oomafter = (size_t)envlong("FAKE_ACL_OOM_AFTER", 0, &bad);
    if (bad || fk_g.ndev > 64)
        return fk_fail(ACL_ERROR_INVALID_PARAM, "aclInit: a FAKE_ACL_ number is not a non-negative integer (or more than 64 devices)");
    fk_g.failop[0] = 0;
    fk_g.failn = 0;
    const char *fail = getenv("FAKE_ACL_FAIL");
    if (fail != NULL && *fail != 0) {
        const char *colon = strrchr(fail, ':');
        char *end;
        if (colon == NULL || colon == fail || (size_t)(colon - fail) >= sizeof fk_g.failop)
            return fk_fail(ACL_ERROR_INVALID_PARAM, "aclInit: FAKE_ACL_FAIL=%s is not opName:N", fail);
        fk_g.failn = strtol(colon + 1, &end, 10);
        if (*end != 0 || fk_g.failn < 1)
            return fk_fail(ACL_ERROR_INVALID_PARAM, "aclInit: FAKE_ACL_FAIL=%s: N must be a positive integer", fail);
        memcpy(fk_g.failop, fail, (size_t)(colon - fail));
        fk_g.failop[colon - fail] = 0;
    }
    fk_g.devmem = (fk_g.devmem + 4095) & ~(size_t)4095;
    return 0;
}

static int fk_opendevs(void) {
    fk_g.devs = calloc((size_t)fk_g.ndev, sizeof(fk_dev));
    if (fk_g.devs == NULL && fk_g.ndev > 0)
        return fk_fail(ACL_ERROR_BAD_ALLOC, "aclInit: out of host memory");
    for (int i = 0; i < fk_g.ndev; i++) {
        fk_dev *d = &fk_g.devs[i];
        d->id = i;
        d->cap = fk_g.devmem;
        d->fd = memfd_create("fake-acl-device", MFD_CLOEXEC);
        if (d->fd < 0 || ftruncate(d->fd, (off_t)d->cap) != 0)
            return fk_fail(ACL_ERROR_RT_INTERNAL_ERROR, "aclInit: device %d memory: %s", i, strerror(errno));
        d->dv = mmap(NULL, d->cap, PROT_NONE, MAP_SHARED, d->fd, 0);
        d->rw = mmap(NULL, d->cap, PROT_READ | PROT_WRITE, MAP_SHARED, d->fd, 0);
        if (d->dv == MAP_FAILED || d->rw == MAP_FAILED)
            return fk_fail(ACL_ERROR_RT_INTERNAL_ERROR, "aclInit: mapping device %d memory: %s", i, strerror(errno));
    }
    return 0;
}

/* aclInit reads the configuration from the environment (FAKE_ACL_*). As
 * the official header says, it can be called once in a process: a second
 * call, even after aclFinalize, fails. */
aclError aclInit(const char *configPath) {
    (void)configPath;
    pthread_mutex_lock(&fk_g.mu);
    int rc = 0;
    if (fk_g.inited || fk_g.finalized)
        rc = fk_fail(ACL_ERROR_REPEAT_INITIALIZE, "aclInit: already called in this process (it may be called once)");
    else if ((rc = fk_config()) == 0 && (rc = fk_opendevs()) == 0)
        fk_g.inited = 1;
    pthread_mutex_unlock(&fk_g.mu);
    return rc;
}

int fk_needinit(void) {
    if (!fk_g.inited)
        return fk_fail(ACL_ERROR_UNINITIALIZE, fk_g.finalized ? "ACL was finalized" : "aclInit has not been called");
    return 0;
}

int fk_needctx(void) {
    FK_TRY(fk_needinit());
    if (fk_cur == NULL || !fk_cur->alive)
        return fk_fail(ACL_ERROR_RT_CONTEXT_NULL,
                       "this thread has no current context: call aclrtSetDevice or aclrtSetCurrentContext on it first");
    return 0;
}

const char *aclrtGetSocName(void) {
    if (!fk_g.inited) {
        fk_fail(ACL_ERROR_UNINITIALIZE, "aclrtGetSocName: aclInit has not been called");
        return NULL;
    }
    return fk_g.socname;
}

aclError aclrtGetDeviceCount(uint32_t *count) {
    FK_TRY(fk_needinit());
    if (count == NULL)
        return fk_fail(ACL_ERROR_INVALID_PARAM, "aclrtGetDeviceCount: count is NULL");
    if (fk_g.ndev == 0)
        return fk_fail(ACL_ERROR_RT_NO_DEVICE, "aclrtGetDeviceCount: no device (FAKE_ACL_DEVICES=0)");
    *count = (uint32_t)fk_g.ndev;
    return 0;
}

static int fk_devid(int32_t id, const char *fn) {
    if (id < 0 || id >= fk_g.ndev)
        return fk_fail(ACL_ERROR_RT_INVALID_DEVICEID, "%s: device %d does not exist (%d devices)", fn, id, fk_g.ndev);
    return 0;
}

static fk_ctx *fk_newctx(fk_dev *d, int isdefault) {
    fk_ctx *c = calloc(1, sizeof *c);
    if (c == NULL)
        return NULL;
    c->magic = FK_LIVE;
    c->dev = d;
    c->alive = 1;
    c->isdefault = isdefault;
    return c;
}

aclError aclrtSetDevice(int32_t deviceId) {
    FK_TRY(fk_needinit());
    FK_TRY(fk_devid(deviceId, "aclrtSetDevice"));
    pthread_mutex_lock(&fk_g.mu);
    fk_dev *d = &fk_g.devs[deviceId];
    if (d->defctx == NULL && (d->defctx = fk_newctx(d, 1)) == NULL) {
        pthread_mutex_unlock(&fk_g.mu);
        return fk_fail(ACL_ERROR_BAD_ALLOC, "aclrtSetDevice: out of host memory");
    }
    d->setcount++;
    fk_cur = d->defctx;
    pthread_mutex_unlock(&fk_g.mu);
    return 0;
}

static void fk_stream_destroy(fk_stream *s);

/* Destroys every stream of context c (waiting for their work). */
static void fk_ctx_streams(fk_ctx *c) {
    for (;;) {
        pthread_mutex_lock(&fk_g.mu);
        fk_stream *s = fk_g.streams;
        while (s != NULL && s->ctx != c)
            s = s->nextall;
        pthread_mutex_unlock(&fk_g.mu);
        if (s == NULL)
            return;
        fk_stream_destroy(s);
    }
}

/* Releases a device whose count reached zero: its streams (after their
 * work), its memory and its default context. */
static void fk_release_dev(fk_dev *d) {
    fk_ctx *c = d->defctx;
    fk_ctx_streams(c);
    pthread_mutex_lock(&fk_g.mu);
    fk_alloc *a = d->allocs;
    while (a != NULL) {
        fk_alloc *n = a->next;
        free(a);
        a = n;
    }
    d->allocs = NULL;
    d->used = 0;
    c->alive = 0;
    d->defctx = NULL;
    pthread_mutex_unlock(&fk_g.mu);
    if (fk_cur == c)
        fk_cur = NULL;
}

aclError aclrtResetDevice(int32_t deviceId) {
    FK_TRY(fk_needinit());
    FK_TRY(fk_devid(deviceId, "aclrtResetDevice"));
    pthread_mutex_lock(&fk_g.mu);
    fk_dev *d = &fk_g.devs[deviceId];
    if (d->setcount == 0) {
        pthread_mutex_unlock(&fk_g.mu);
        return fk_fail(ACL_ERROR_RT_PARAM_INVALID, "aclrtResetDevice: device %d was not set", deviceId);
    }
    int last = --d->setcount == 0;
    pthread_mutex_unlock(&fk_g.mu);
    if (last)
        fk_release_dev(d);
    return 0;
}

aclError aclrtCreateContext(aclrtContext *context, int32_t deviceId) {
    FK_TRY(fk_needinit());
    if (context == NULL)
        return fk_fail(ACL_ERROR_INVALID_PARAM, "aclrtCreateContext: context is NULL");
    FK_TRY(fk_devid(deviceId, "aclrtCreateContext"));
    pthread_mutex_lock(&fk_g.mu);
    fk_dev *d = &fk_g.devs[deviceId];
    fk_ctx *c = fk_newctx(d, 0);
    if (c != NULL && d->defctx == NULL && (d->defctx = fk_newctx(d, 1)) == NULL) {
        free(c);
        c = NULL;
    }
    if (c == NULL) {
        pthread_mutex_unlock(&fk_g.mu);
        return fk_fail(ACL_ERROR_BAD_ALLOC, "aclrtCreateContext: out of host memory");
    }
    d->setcount++;
    pthread_mutex_unlock(&fk_g.mu);
    fk_cur = c;
    *context = c;
    return 0;
}

static int fk_ctxarg(aclrtContext context, const char *fn) {
    fk_ctx *c = context;
    if (c == NULL)
        return fk_fail(ACL_ERROR_INVALID_PARAM, "%s: context is NULL", fn);
    if (c->magic != FK_LIVE)
        return fk_fail(ACL_ERROR_INVALID_PARAM, "%s: %p is not a live context", fn, context);
    if (!c->alive)
        return fk_fail(ACL_ERROR_RT_CONTEXT_NULL, "%s: the context's device was reset", fn);
    return 0;
}

aclError aclrtDestroyContext(aclrtContext context) {
    FK_TRY(fk_needinit());
    FK_TRY(fk_ctxarg(context, "aclrtDestroyContext"));
    fk_ctx *c = context;
    if (c->isdefault)
        return fk_fail(ACL_ERROR_INVALID_PARAM, "aclrtDestroyContext: a device's default context is released by aclrtResetDevice");
    fk_ctx_streams(c);
    pthread_mutex_lock(&fk_g.mu);
    c->alive = 0;
    c->magic = FK_DEAD;
    int last = --c->dev->setcount == 0;
    pthread_mutex_unlock(&fk_g.mu);
    if (fk_cur == c)
        fk_cur = NULL;
    if (last)
        fk_release_dev(c->dev);
    return 0;
}

aclError aclrtSetCurrentContext(aclrtContext context) {
    FK_TRY(fk_needinit());
    FK_TRY(fk_ctxarg(context, "aclrtSetCurrentContext"));
    fk_cur = context;
    return 0;
}

aclError aclrtCtxSetSysParamOpt(aclSysParamOpt opt, int64_t value) {
    FK_TRY(fk_needctx());
    if (opt != ACL_OPT_DETERMINISTIC && opt != ACL_OPT_ENABLE_DEBUG_KERNEL)
        return fk_fail(ACL_ERROR_INVALID_PARAM, "aclrtCtxSetSysParamOpt: unknown option %d", (int)opt);
    if (value != 0 && value != 1)
        return fk_fail(ACL_ERROR_INVALID_PARAM, "aclrtCtxSetSysParamOpt: value %lld is not 0 or 1", (long long)value);
    if (opt == ACL_OPT_DETERMINISTIC)
        fk_cur->deterministic = (int)value;
    return 0;
}

/* Streams: a FIFO of tasks run in order by the stream's own thread. */

static void *fk_worker(void *arg) {
    fk_stream *s = arg;
    pthread_mutex_lock(&s->mu);
    for (;;) {
        while (s->head == NULL && !s->stop)
            pthread_cond_wait(&s->cv, &s->mu);
        if (s->head == NULL)
            break;
        fk_task *t = s->head;
        s->head = t->next;
        if (s->head == NULL)
            s->tail = NULL;
        int skip = s->err != 0;
        pthread_mutex_unlock(&s->mu);
        if (fk_g.delayus > 0) {
            struct timespec ts = {fk_g.delayus / 1000000, (fk_g.delayus % 1000000) * 1000};
            while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
            }
        }
        char msg[512] = "";
        int rc = 0;
        if (skip)
            rc = 0; /* a failed stream runs nothing more */
        else if (t->fail)
            rc = ACL_ERROR_RT_AICORE_EXCEPTION,
            snprintf(msg, sizeof msg, "%s: AI Core exception (injected by FAKE_ACL_FAIL=%s:%ld)", t->op, fk_g.failop,
                     fk_g.failn);
        else
            rc = t->run(t, msg, sizeof msg);
        pthread_mutex_lock(&fk_g.mu);
        for (int i = 0; i < t->nref; i++)
            t->ref[i]->pending--;
        pthread_mutex_unlock(&fk_g.mu);
        if (t->done != NULL)
            t->done(t);
        free(t);
        pthread_mutex_lock(&s->mu);
        if (rc != 0 && s->err == 0) {
            s->err = rc;
            snprintf(s->msg, sizeof s->msg, "%s", msg);
        }
        s->pending--;
        pthread_cond_broadcast(&s->cv);
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

static fk_stream *fk_stream_new(fk_ctx *c) {
    fk_stream *s = calloc(1, sizeof *s);
    if (s == NULL)
        return NULL;
    s->magic = FK_LIVE;
    s->ctx = c;
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    if (pthread_create(&s->th, NULL, fk_worker, s) != 0) {
        free(s);
        return NULL;
    }
    pthread_mutex_lock(&fk_g.mu);
    s->nextall = fk_g.streams;
    fk_g.streams = s;
    pthread_mutex_unlock(&fk_g.mu);
    return s;
}

/* Waits for the stream's work, stops its thread and unlinks it. The struct
 * is retired, not freed, so a stale handle is recognised. */
static void fk_stream_destroy(fk_stream *s) {
    pthread_mutex_lock(&s->mu);
    s->stop = 1;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
    pthread_join(s->th, NULL);
    pthread_mutex_lock(&fk_g.mu);
    for (fk_stream **p = &fk_g.streams; *p != NULL; p = &(*p)->nextall)
        if (*p == s) {
            *p = s->nextall;
            break;
        }
    if (s->ctx->defstream == s)
        s->ctx->defstream = NULL;
    s->magic = FK_DEAD;
    pthread_mutex_unlock(&fk_g.mu);
    fk_retire(s);
}

aclError aclrtCreateStream(aclrtStream *stream) {
    FK_TRY(fk_needctx());
    if (stream == NULL)
        return fk_fail(ACL_ERROR_INVALID_PARAM, "aclrtCreateStream: stream is NULL");
    fk_stream *s = fk_stream_new(fk_cur);
    if (s == NULL)
        return fk_fail(ACL_ERROR_RT_INTERNAL_ERROR, "aclrtCreateStream: cannot start the stream's thread");
    *stream = s;
    return 0;
}

/* Resolves a stream argument: NULL is the current context's default
 * stream; a stream must belong to the current device. */
int fk_stream_get(aclrtStream stream, fk_stream **out) {
    FK_TRY(fk_needctx());
    fk_stream *s = stream;
    if (s == NULL) {
        pthread_mutex_lock(&fk_g.mu);
        s = fk_cur->defstream;
        pthread_mutex_unlock(&fk_g.mu);
        if (s == NULL) {
            if ((s = fk_stream_new(fk_cur)) == NULL)
                return fk_fail(ACL_ERROR_RT_INTERNAL_ERROR, "cannot start the default stream's thread");
            pthread_mutex_lock(&fk_g.mu);
            fk_cur->defstream = s;
            pthread_mutex_unlock(&fk_g.mu);
        }
    } else if (s->magic == FK_DEAD) {
        return fk_fail(ACL_ERROR_RT_PARAM_INVALID, "stream %p was destroyed", stream);
    } else if (s->magic != FK_LIVE) {
        return fk_fail(ACL_ERROR_RT_PARAM_INVALID, "%p is not a stream", stream);
    } else if (!s->ctx->alive || s->ctx->dev != fk_cur->dev) {
        return fk_fail(ACL_ERROR_RT_PARAM_INVALID, "stream %p belongs to device %d, but this thread's current device is %d",
                       stream, s->ctx->dev->id, fk_cur->dev->id);
    }
    *out = s;
    return 0;
}

aclError aclrtDestroyStream(aclrtStream stream) {
    if (stream == NULL) {
        FK_TRY(fk_needinit());
        return fk_fail(ACL_ERROR_INVALID_PARAM, "aclrtDestroyStream: stream is NULL (the default stream is not destroyed)");
    }
    fk_stream *s;
    FK_TRY(fk_stream_get(stream, &s));
    fk_stream_destroy(s);
    return 0;
}

/* aclrtSynchronizeStream waits for the stream's tasks and returns its
 * first asynchronous error; a failed stream keeps failing. */
aclError aclrtSynchronizeStream(aclrtStream stream) {
    fk_stream *s;
    FK_TRY(fk_stream_get(stream, &s));
    pthread_mutex_lock(&s->mu);
    while (s->pending > 0)
        pthread_cond_wait(&s->cv, &s->mu);
    int err = s->err;
    if (err != 0)
        fk_setmsg(s->msg);
    pthread_mutex_unlock(&s->mu);
    return err;
}

void fk_enqueue(fk_stream *s, fk_task *t) {
    pthread_mutex_lock(&s->mu);
    t->next = NULL;
    if (s->tail != NULL)
        s->tail->next = t;
    else
        s->head = t;
    s->tail = t;
    s->pending++;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

void fk_ref(fk_task *t, fk_alloc *a) {
    for (int i = 0; i < t->nref; i++)
        if (t->ref[i] == a)
            return;
    t->ref[t->nref++] = a;
    a->pending++;
}

/* Memory. */

fk_dev *fk_devof(const void *p) {
    const char *c = p;
    for (int i = 0; i < fk_g.ndev; i++) {
        fk_dev *d = &fk_g.devs[i];
        if (c >= d->dv && c < d->dv + d->cap)
            return d;
    }
    return NULL;
}

fk_alloc *fk_allocof(fk_dev *d, const void *p) {
    size_t off = (size_t)((const char *)p - d->dv);
    for (fk_alloc *a = d->allocs; a != NULL && a->off <= off; a = a->next)
        if (off < a->off + a->size || (a->size == 0 && off == a->off))
            return a;
    return NULL;
}

/* aclrtMalloc: size rounded up to 32 bytes plus 32 bytes of padding, as
 * the documentation says; first fit; fresh memory holds garbage (NaN). */
aclError aclrtMalloc(void **devPtr, size_t size, aclrtMemMallocPolicy policy) {
    FK_TRY(fk_needctx());
    if (devPtr == NULL)
        return fk_fail(ACL_ERROR_INVALID_PARAM, "aclrtMalloc: devPtr is NULL");
    if (size == 0)
        return fk_fail(ACL_ERROR_INVALID_PARAM, "aclrtMalloc: size is 0");
    if (policy != ACL_MEM_MALLOC_HUGE_FIRST && policy != ACL_MEM_MALLOC_HUGE_ONLY && policy != ACL_MEM_MALLOC_NORMAL_ONLY)
        return fk_fail(ACL_ERROR_INVALID_PARAM, "aclrtMalloc: unknown policy %d", (int)policy);
    fk_dev *d = fk_cur->dev;
    if (size > d->cap)
        return fk_fail(ACL_ERROR_RT_MEMORY_ALLOCATION, "aclrtMalloc: %zu bytes is more than device %d has (%zu)", size, d->id, d->cap);
    size_t span = ((size + 31) & ~(size_t)31) + 32;
    pthread_mutex_lock(&fk_g.mu);
    if (fk_g.oomafter > 0 && d->handed + size > fk_g.oomafter) {
        pthread_mutex_unlock(&fk_g.mu);
        return fk_fail(ACL_ERROR_RT_MEMORY_ALLOCATION,
                       "aclrtMalloc: device %d out of memory: %zu bytes asked after %zu handed out (FAKE_ACL_OOM_AFTER=%zu)", d->id,
                       size, d->handed, fk_g.oomafter);
    }
    size_t off = 0;
    fk_alloc **p = &d->allocs;
    for (; *p != NULL; p = &(*p)->next) {
        if ((*p)->off - off >= span)
            break;
        off = (*p)->off + (*p)->span;
    }
    fk_alloc *a = NULL;
    if (off + span <= d->cap)
        a = calloc(1, sizeof *a);
    if (a == NULL) {
        pthread_mutex_unlock(&fk_g.mu);
        return fk_fail(ACL_ERROR_RT_MEMORY_ALLOCATION, "aclrtMalloc: device %d out of memory: %zu bytes asked, %zu of %zu in use",
                       d->id, size, d->used, d->cap);
    }
    a->off = off;
    a->size = size;
    a->span = span;
    a->next = *p;
    *p = a;
    d->used += span;
    d->handed += size;
    pthread_mutex_unlock(&fk_g.mu);
    memset(d->rw + off, FK_GARBAGE, span);
    *devPtr = d->dv + off;
    return 0;
}

aclError aclrtFree(void *devPtr) {
    FK_TRY(fk_needctx());
    if (devPtr == NULL)
        return fk_fail(ACL_ERROR_INVALID_PARAM, "aclrtFree: devPtr is NULL");
    fk_dev *d = fk_devof(devPtr);
    if (d == NULL)
        return fk_fail(ACL_ERROR_INVALID_PARAM, "aclrtFree: %p is not device memory", devPtr);
    if (d != fk_cur->dev)
        return fk_fail(ACL_ERROR_INVALID_PARAM, "aclrtFree: %p is on device %d, the current device is %d", devPtr, d->id,
                       fk_cur->dev->id);
    pthread_mutex_lock(&fk_g.mu);
    size_t off = (size_t)((char *)devPtr - d->dv);
    fk_alloc **p = &d->allocs;
    while (*p != NULL && (*p)->off != off)
        p = &(*p)->next;
    fk_alloc *a = *p;
    int rc = 0;
    if (a == NULL)
        rc = fk_fail(ACL_ERROR_INVALID_PARAM, "aclrtFree: %p was not returned by aclrtMalloc, or was freed already", devPtr);
    else if (a->pending > 0)
        rc = fk_fail(ACL_ERROR_INVALID_PARAM,
                     "aclrtFree: %p is still used by %d task(s) queued on a stream: synchronize the stream first", devPtr,
                     a->pending);
    else {
        *p = a->next;
        d->used -= a->span;
        free(a);
    }
    pthread_mutex_unlock(&fk_g.mu);
    return rc;
}

/* Page-locked host memory is plain host memory here, recorded so that
 * aclrtFreeHost refuses what aclrtMallocHost did not return; it comes
 * filled with a pattern, as its contents are undefined. */
typedef struct fk_hostalloc {
    void *p;
    struct fk_hostalloc *next;
} fk_hostalloc;
static fk_hostalloc *fk_hosts;

aclError aclrtMallocHost(void **hostPtr, size_t size) {
    FK_TRY(fk_needinit());
    if (hostPtr == NULL)
        return fk_fail(ACL_ERROR_INVALID_PARAM, "aclrtMallocHost: hostPtr is NULL");
    if (size == 0)
        return fk_fail(ACL_ERROR_INVALID_PARAM, "aclrtMallocHost: size is 0");
    void *p = NULL;
    fk_hostalloc *h = malloc(sizeof *h);
    if (h == NULL || posix_memalign(&p, 64, size) != 0) {
        free(h);
        return fk_fail(ACL_ERROR_RT_MEMORY_ALLOCATION, "aclrtMallocHost: no host memory for %zu bytes", size);
    }
    memset(p, 0x5a, size);
    h->p = p;
    pthread_mutex_lock(&fk_g.mu);
    h->next = fk_hosts;
    fk_hosts = h;
    pthread_mutex_unlock(&fk_g.mu);
    *hostPtr = p;
    return ACL_SUCCESS;
}

aclError aclrtFreeHost(void *hostPtr) {
    FK_TRY(fk_needinit());
    pthread_mutex_lock(&fk_g.mu);
    fk_hostalloc **q = &fk_hosts;
    while (*q != NULL && (*q)->p != hostPtr)
        q = &(*q)->next;
    fk_hostalloc *h = *q;
    if (h != NULL)
        *q = h->next;
    pthread_mutex_unlock(&fk_g.mu);
    if (h == NULL)
        return fk_fail(ACL_ERROR_INVALID_PARAM, "aclrtFreeHost: %p was not returned by aclrtMallocHost, or was freed already", hostPtr);
    free(h->p);
    free(h);
    return ACL_SUCCESS;
}

aclError aclrtGetMemInfo(aclrtMemAttr attr, size_t *free_, size_t *total) {
    FK_TRY(fk_needctx());
    if (free_ == NULL || total == NULL)
        return fk_fail(ACL_ERROR_INVALID_PARAM, "aclrtGetMemInfo: free or total is NULL");
    if (attr != ACL_DDR_MEM && attr != ACL_HBM_MEM)
        return fk_fail(ACL_ERROR_INVALID_PARAM, "aclrtGetMemInfo: unknown attribute %d", (int)attr);
    pthread_mutex_lock(&fk_g.mu);
    fk_dev *d = fk_cur->dev;
    /* All the fake's device memory is HBM; it reports no DDR. */
    *total = attr == ACL_HBM_MEM ? d->cap : 0;
    *free_ = attr == ACL_HBM_MEM ? d->cap - d->used : 0;
    pthread_mutex_unlock(&fk_g.mu);
    return 0;
}

/* Checks one side of a copy: where the kind says it is, on the current
 * device, inside one allocation. Returns the address to touch. */
static int fk_side(const char *fn, const char *what, const void *p, size_t n, int wantdev, char **rw, fk_alloc **ap) {
    fk_dev *d = fk_devof(p);
    *ap = NULL;
    if (wantdev && d == NULL)
        return fk_fail(ACL_ERROR_INVALID_PARAM, "%s: %s %p is host memory, but the copy kind says device", fn, what, p);
    if (!wantdev && d != NULL)
        return fk_fail(ACL_ERROR_INVALID_PARAM, "%s: %s %p is device memory, but the copy kind says host", fn, what, p);
    if (d == NULL) {
        *rw = (char *)p;
        return 0;
    }
    if (d != fk_cur->dev)
        return fk_fail(ACL_ERROR_INVALID_PARAM, "%s: %s %p is on device %d, the current device is %d", fn, what, p, d->id,
                       fk_cur->dev->id);
    fk_alloc *a = fk_allocof(d, p);
    size_t off = (size_t)((const char *)p - d->dv);
    if (a == NULL)
        return fk_fail(ACL_ERROR_INVALID_PARAM, "%s: %s %p is not in any allocation (freed?)", fn, what, p);
    if (off + n > a->off + a->size)
        return fk_fail(ACL_ERROR_INVALID_PARAM, "%s: %s: %zu bytes from %p run past the end of its %zu-byte allocation", fn, what,
                       n, p, a->size);
    *rw = d->rw + off;
    *ap = a;
    return 0;
}

static int fk_copyargs(const char *fn, void *dst, size_t destMax, const void *src, size_t count, aclrtMemcpyKind kind, char **rd,
                       char **rs, fk_alloc **ad, fk_alloc **as) {
    if (dst == NULL || src == NULL)
        return fk_fail(ACL_ERROR_INVALID_PARAM, "%s: dst or src is NULL", fn);
    if (count > destMax)
        return fk_fail(ACL_ERROR_INVALID_PARAM, "%s: count %zu is more than destMax %zu", fn, count, destMax);
    if (kind < ACL_MEMCPY_HOST_TO_HOST || kind > ACL_MEMCPY_DEVICE_TO_DEVICE)
        return fk_fail(ACL_ERROR_INVALID_PARAM, "%s: unknown copy kind %d", fn, (int)kind);
    int ddev = kind == ACL_MEMCPY_HOST_TO_DEVICE || kind == ACL_MEMCPY_DEVICE_TO_DEVICE;
    int sdev = kind == ACL_MEMCPY_DEVICE_TO_HOST || kind == ACL_MEMCPY_DEVICE_TO_DEVICE;
    FK_TRY(fk_side(fn, "dst", dst, count, ddev, rd, ad));
    return fk_side(fn, "src", src, count, sdev, rs, as);
}

/* aclrtMemcpy is synchronous with the host but waits for no stream: what a
 * stream has not run yet is not in the copy. */
aclError aclrtMemcpy(void *dst, size_t destMax, const void *src, size_t count, aclrtMemcpyKind kind) {
    FK_TRY(fk_needctx());
    char *rd, *rs;
    fk_alloc *ad, *as;
    pthread_mutex_lock(&fk_g.mu);
    int rc = fk_copyargs("aclrtMemcpy", dst, destMax, src, count, kind, &rd, &rs, &ad, &as);
    pthread_mutex_unlock(&fk_g.mu);
    if (rc == 0)
        memmove(rd, rs, count);
    return rc;
}

static int fk_copytask(fk_task *t, char *msg, size_t n) {
    (void)msg;
    (void)n;
    memmove(t->dst, t->src, t->n);
    return 0;
}

static int fk_settask(fk_task *t, char *msg, size_t n) {
    (void)msg;
    (void)n;
    memset(t->dst, t->value, t->n);
    return 0;
}

aclError aclrtMemcpyAsync(void *dst, size_t destMax, const void *src, size_t count, aclrtMemcpyKind kind, aclrtStream stream) {
    fk_stream *s;
    FK_TRY(fk_stream_get(stream, &s));
    fk_task *t = calloc(1, sizeof *t);
    if (t == NULL)
        return fk_fail(ACL_ERROR_BAD_ALLOC, "aclrtMemcpyAsync: out of host memory");
    char *rd, *rs;
    fk_alloc *ad, *as;
    pthread_mutex_lock(&fk_g.mu);
    int rc = fk_copyargs("aclrtMemcpyAsync", dst, destMax, src, count, kind, &rd, &rs, &ad, &as);
    if (rc == 0) {
        if (ad != NULL)
            fk_ref(t, ad);
        if (as != NULL)
            fk_ref(t, as);
    }
    pthread_mutex_unlock(&fk_g.mu);
    if (rc != 0) {
        free(t);
        return rc;
    }
    t->op = "aclrtMemcpyAsync";
    t->run = fk_copytask;
    t->dst = rd;
    t->src = rs;
    t->n = count;
    fk_enqueue(s, t);
    return 0;
}

/* fk_devtask queues run on stream over n bytes of device memory at ptr
 * (checked as op's argument arg); value is the task's. */
static aclError fk_devtask(const char *op, const char *arg, void *ptr, size_t n, int32_t value, aclrtStream stream,
                           int (*run)(fk_task *, char *, size_t)) {
    fk_stream *s;
    FK_TRY(fk_stream_get(stream, &s));
    if (ptr == NULL)
        return fk_fail(ACL_ERROR_INVALID_PARAM, "%s: %s is NULL", op, arg);
    fk_task *t = calloc(1, sizeof *t);
    if (t == NULL)
        return fk_fail(ACL_ERROR_BAD_ALLOC, "%s: out of host memory", op);
    char *rd;
    fk_alloc *ad;
    pthread_mutex_lock(&fk_g.mu);
    int rc = fk_side(op, arg, ptr, n, 1, &rd, &ad);
    if (rc == 0)
        fk_ref(t, ad);
    pthread_mutex_unlock(&fk_g.mu);
    if (rc != 0) {
        free(t);
        return rc;
    }
    t->op = op;
    t->run = run;
    t->dst = rd;
    t->n = n;
    t->value = value;
    fk_enqueue(s, t);
    return 0;
}

aclError aclrtMemsetAsync(void *devPtr, size_t maxCount, int32_t value, size_t count, aclrtStream stream) {
    if (devPtr != NULL && count > maxCount)
        return fk_fail(ACL_ERROR_INVALID_PARAM, "aclrtMemsetAsync: count %zu is more than maxCount %zu", count, maxCount);
    return fk_devtask("aclrtMemsetAsync", "devPtr", devPtr, count, value, stream, fk_settask);
}

static int fk_statustask(fk_task *t, char *msg, size_t n) {
    (void)msg;
    (void)n;
    memset(t->dst, 0, 64);
    if (fk_g.overflow)
        t->dst[0] = 1;
    return 0;
}

static int fk_resettask(fk_task *t, char *msg, size_t n) {
    (void)t;
    (void)msg;
    (void)n;
    fk_g.overflow = 0;
    return 0;
}

/* aclrtGetOverflowStatus writes, in stream order, 64 bytes of the device's
 * overflow status to outputAddr (device memory): all zero unless an
 * operation saturated since the last aclrtResetOverflowStatus. */
aclError aclrtGetOverflowStatus(void *outputAddr, size_t outputSize, aclrtStream stream) {
    if (outputSize != 64)
        return fk_fail(ACL_ERROR_INVALID_PARAM, "aclrtGetOverflowStatus: want 64 bytes of device memory, got %zu", outputSize);
    return fk_devtask("aclrtGetOverflowStatus", "outputAddr", outputAddr, 64, 0, stream, fk_statustask);
}

/* aclrtResetOverflowStatus clears the flag, in stream order. */
aclError aclrtResetOverflowStatus(aclrtStream stream) {
    fk_stream *s;
    FK_TRY(fk_stream_get(stream, &s));
    fk_task *t = calloc(1, sizeof *t);
    if (t == NULL)
        return fk_fail(ACL_ERROR_BAD_ALLOC, "aclrtResetOverflowStatus: out of host memory");
    t->op = "aclrtResetOverflowStatus";
    t->run = fk_resettask;
    fk_enqueue(s, t);
    return 0;
}

/* aclFinalize waits for every stream and stops them; ACL cannot be used
 * (or initialised) again in this process. */
aclError aclFinalize(void) {
    FK_TRY(fk_needinit());
    for (;;) {
        pthread_mutex_lock(&fk_g.mu);
        fk_stream *s = fk_g.streams;
        pthread_mutex_unlock(&fk_g.mu);
        if (s == NULL)
            break;
        fk_stream_destroy(s);
    }
    pthread_mutex_lock(&fk_g.mu);
    fk_g.inited = 0;
    fk_g.finalized = 1;
    pthread_mutex_unlock(&fk_g.mu);
    fk_cur = NULL;
    return 0;
}
