/*
 * rt.c: the runtime's strictness: memory, copies, contexts, streams,
 * executors and workspaces, SoC modes, injected faults, the exported set.
 */
#include "t.h"

#include <dlfcn.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <sys/wait.h>
#include <unistd.h>

/* A host read of a device address faults (in a child process). */
static void t_segv(void) {
    t_setup(0);
    float *p = t_alloc(64);
    pid_t pid = fork();
    CHECK(pid >= 0, "fork");
    if (pid == 0) {
        volatile float x = p[0];
        (void)x;
        _exit(0);
    }
    int st;
    CHECK(waitpid(pid, &st, 0) == pid, "waitpid");
    CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGSEGV, "the child read a device address without SIGSEGV (status %d)", st);
}

/* Adds x+1 into out on a stream that runs late (FAKE_ACL_STREAM_DELAY_US):
 * a synchronous copy without aclrtSynchronizeStream reads the old out. */
static void t_stale(void) {
    t_setup(0);
    float x[5] = {1, 2, 3, 4, 5}, zero[5] = {0}, got[5];
    void *dx = t_dev(x, sizeof x), *dout = t_dev(zero, sizeof zero);
    int64_t n = 5;
    aclTensor *tx = t_tensor(dx, ACL_FLOAT, 1, &n, NULL, 0, 5), *to = t_tensor(dout, ACL_FLOAT, 1, &n, NULL, 0, 5);
    aclScalar *one = t_double(1);
    aclrtStream s;
    OK(aclrtCreateStream(&s));
    uint64_t ws;
    aclOpExecutor *ex;
    OK(aclnnAddsGetWorkspaceSize(tx, one, one, to, &ws, &ex));
    OK(aclnnAdds(NULL, ws, ex, s));
    t_host(got, dout, sizeof got); /* the bug: no aclrtSynchronizeStream */
    for (int i = 0; i < 5; i++)
        CHECK(got[i] == 0, "unsynchronised read saw the result (%g): the stream is not asynchronous", got[i]);
    OK(aclrtSynchronizeStream(s));
    t_host(got, dout, sizeof got);
    for (int i = 0; i < 5; i++)
        CHECK(got[i] == x[i] + 1, "synchronised read: got[%d] = %g", i, got[i]);
    /* An asynchronous D2H on the same stream is ordered after the kernel. */
    OK(aclnnAddsGetWorkspaceSize(tx, one, one, to, &ws, &ex));
    OK(aclnnAdds(NULL, ws, ex, s));
    static float pinned[5];
    OK(aclrtMemcpyAsync(pinned, sizeof pinned, dout, sizeof pinned, ACL_MEMCPY_DEVICE_TO_HOST, s));
    OK(aclrtSynchronizeStream(s));
    CHECK(pinned[4] == 6, "async copy after the kernel: %g", pinned[4]);
    OK(aclrtDestroyStream(s));
}

/* Freed-while-pending, double free, foreign pointers. */
static void t_free(void) {
    t_setup(0);
    float x[8] = {0};
    void *dx = t_dev(x, sizeof x), *dy = t_alloc(sizeof x);
    aclrtStream s;
    OK(aclrtCreateStream(&s));
    OK(aclrtMemcpyAsync(dy, sizeof x, dx, sizeof x, ACL_MEMCPY_DEVICE_TO_DEVICE, s));
    FAILS(aclrtFree(dx), ACL_ERROR_INVALID_PARAM, "synchronize");
    OK(aclrtSynchronizeStream(s));
    OK(aclrtFree(dx));
    FAILS(aclrtFree(dx), ACL_ERROR_INVALID_PARAM, "freed already");
    FAILS(aclrtFree(x), ACL_ERROR_INVALID_PARAM, "not device memory");
    FAILS(aclrtFree((char *)dy + 32), ACL_ERROR_INVALID_PARAM, "not returned by aclrtMalloc");
    /* A tensor whose memory was freed cannot be launched. */
    int64_t n = 8;
    aclTensor *ty = t_tensor(dy, ACL_FLOAT, 1, &n, NULL, 0, 8);
    uint64_t ws;
    aclOpExecutor *ex;
    OK(aclnnInplaceMulsGetWorkspaceSize(ty, t_double(2), &ws, &ex));
    OK(aclrtFree(dy));
    FAILS(aclnnInplaceMuls(NULL, ws, ex, s), ACLNN_ERR_PARAM_INVALID, "freed");
    OK(aclrtDestroyStream(s));
}

/* Copies: kinds against where the pointers are, sizes, allocations. */
static void t_memcpy(void) {
    t_setup(0);
    char host[256] = {0};
    void *d = t_alloc(100);
    FAILS(aclrtMemcpy(d, 100, host, 100, ACL_MEMCPY_DEVICE_TO_HOST), ACL_ERROR_INVALID_PARAM, "is device memory");
    FAILS(aclrtMemcpy(host, 100, d, 100, ACL_MEMCPY_HOST_TO_DEVICE), ACL_ERROR_INVALID_PARAM, "is host memory");
    FAILS(aclrtMemcpy(d, 50, host, 100, ACL_MEMCPY_HOST_TO_DEVICE), ACL_ERROR_INVALID_PARAM, "destMax");
    FAILS(aclrtMemcpy(d, 200, host, 101, ACL_MEMCPY_HOST_TO_DEVICE), ACL_ERROR_INVALID_PARAM, "past the end");
    FAILS(aclrtMemcpy((char *)d + 64, 200, host, 64, ACL_MEMCPY_HOST_TO_DEVICE), ACL_ERROR_INVALID_PARAM, "past the end");
    OK(aclrtMemcpy((char *)d + 36, 64, host, 64, ACL_MEMCPY_HOST_TO_DEVICE));
    OK(aclrtMemcpy(host, 256, host + 128, 16, ACL_MEMCPY_HOST_TO_HOST));
    /* A pointer of device 1 is refused while device 0 is current. */
    OK(aclrtSetDevice(1));
    void *d1 = t_alloc(64);
    OK(aclrtSetDevice(0));
    FAILS(aclrtMemcpy(host, 64, d1, 64, ACL_MEMCPY_DEVICE_TO_HOST), ACL_ERROR_INVALID_PARAM, "device 1");
    FAILS(aclrtMemsetAsync(d1, 64, 0, 64, NULL), ACL_ERROR_INVALID_PARAM, "device 1");
    /* Fresh memory is garbage (NaN), not zero; memset clears it. */
    float f[4];
    void *g = t_alloc(sizeof f);
    t_host(f, g, sizeof f);
    CHECK(isnan(f[0]) && isnan(f[3]), "fresh device memory reads %g, not garbage", f[0]);
    OK(aclrtMemsetAsync(g, sizeof f, 0, sizeof f, NULL));
    OK(aclrtSynchronizeStream(NULL));
    t_host(f, g, sizeof f);
    CHECK(f[0] == 0 && f[3] == 0, "memset");
    size_t fr, tot;
    OK(aclrtGetMemInfo(ACL_HBM_MEM, &fr, &tot));
    CHECK(tot == 1u << 30 && fr < tot, "mem info %zu of %zu", fr, tot);
}

static void *t_nodev_thread(void *arg) {
    (void)arg;
    void *p;
    int rc = aclrtMalloc(&p, 64, ACL_MEM_MALLOC_HUGE_FIRST);
    const char *m = aclGetRecentErrMsg();
    if (rc != ACL_ERROR_RT_CONTEXT_NULL || m == NULL || strstr(m, "aclrtSetDevice") == NULL)
        return (void *)1;
    aclrtStream s;
    if (aclrtCreateStream(&s) != ACL_ERROR_RT_CONTEXT_NULL)
        return (void *)2;
    return NULL;
}

static void *t_ctx_thread(void *arg) {
    /* A context made on another thread is made current here. */
    if (aclrtSetCurrentContext(arg) != 0)
        return (void *)1;
    void *p;
    if (aclrtMalloc(&p, 64, ACL_MEM_MALLOC_HUGE_FIRST) != 0 || aclrtFree(p) != 0)
        return (void *)2;
    return NULL;
}

/* Contexts and threads. */
static void t_context(void) {
    void *p;
    FAILS(aclrtMalloc(&p, 64, ACL_MEM_MALLOC_HUGE_FIRST), ACL_ERROR_UNINITIALIZE, "aclInit");
    OK(aclInit(NULL));
    FAILS(aclInit(NULL), ACL_ERROR_REPEAT_INITIALIZE, "once");
    uint32_t n;
    OK(aclrtGetDeviceCount(&n));
    CHECK(n == 2, "device count %u", n);
    CHECK(strcmp(aclrtGetSocName(), "Ascend910B1") == 0, "soc %s", aclrtGetSocName());
    FAILS(aclrtSetDevice(2), ACL_ERROR_RT_INVALID_DEVICEID, "does not exist");
    FAILS(aclrtMalloc(&p, 64, ACL_MEM_MALLOC_HUGE_FIRST), ACL_ERROR_RT_CONTEXT_NULL, "no current context");
    pthread_t th;
    void *ret;
    OK(aclrtSetDevice(0));
    CHECK(pthread_create(&th, NULL, t_nodev_thread, NULL) == 0 && pthread_join(th, &ret) == 0 && ret == NULL,
          "a thread without a device: case %p", ret);
    aclrtContext c;
    OK(aclrtCreateContext(&c, 1));
    CHECK(pthread_create(&th, NULL, t_ctx_thread, c) == 0 && pthread_join(th, &ret) == 0 && ret == NULL,
          "context on another thread: case %p", ret);
    void *d1 = t_alloc(64); /* on device 1: c is current here */
    OK(aclrtSetDevice(0));
    FAILS(aclrtFree(d1), ACL_ERROR_INVALID_PARAM, "device 1");
    OK(aclrtSetCurrentContext(c));
    OK(aclrtFree(d1));
    OK(aclrtDestroyContext(c));
    FAILS(aclrtMalloc(&p, 64, ACL_MEM_MALLOC_HUGE_FIRST), ACL_ERROR_RT_CONTEXT_NULL, NULL);
    FAILS(aclrtSetCurrentContext(c), ACL_ERROR_INVALID_PARAM, "not a live context");
    OK(aclrtSetDevice(0));
    OK(aclrtResetDevice(0)); /* set three times: reset three times */
    OK(aclrtResetDevice(0));
    OK(aclrtResetDevice(0));
    FAILS(aclrtMalloc(&p, 64, ACL_MEM_MALLOC_HUGE_FIRST), ACL_ERROR_RT_CONTEXT_NULL, NULL);
    FAILS(aclrtResetDevice(0), ACL_ERROR_RT_PARAM_INVALID, "not set");
    OK(aclFinalize());
    FAILS(aclInit(NULL), ACL_ERROR_REPEAT_INITIALIZE, NULL);
    CHECK(aclGetRecentErrMsg() == NULL, "the message is returned once");
}

/* Streams: destroy waits; the default stream is not destroyed. */
static void t_stream(void) {
    t_setup(0);
    float x[4] = {1, 2, 3, 4}, got[4];
    void *d = t_alloc(sizeof x);
    static float src[4];
    memcpy(src, x, sizeof x);
    aclrtStream s;
    OK(aclrtCreateStream(&s));
    OK(aclrtMemcpyAsync(d, sizeof x, src, sizeof x, ACL_MEMCPY_HOST_TO_DEVICE, s));
    OK(aclrtDestroyStream(s));
    t_host(got, d, sizeof got);
    CHECK(got[3] == 4, "destroy did not wait for the stream's work");
    FAILS(aclrtSynchronizeStream(s), ACL_ERROR_RT_PARAM_INVALID, "destroyed");
    FAILS(aclrtDestroyStream(NULL), ACL_ERROR_INVALID_PARAM, "default");
}

/* Executors and workspaces. */
static void t_workspace(void) {
    t_setup(0);
    float x[12];
    t_fill(x, 12, 3);
    void *dx = t_dev(x, sizeof x), *dout = t_alloc(16);
    int64_t dims[2] = {3, 4}, od = 4, all[1] = {0};
    aclTensor *tx = t_tensor(dx, ACL_FLOAT, 2, dims, NULL, 0, 12), *to = t_tensor(dout, ACL_FLOAT, 1, &od, NULL, 0, 4);
    aclIntArray *d0 = aclCreateIntArray(all, 1);
    uint64_t ws;
    aclOpExecutor *ex;
    OK(aclnnReduceSumGetWorkspaceSize(tx, d0, false, ACL_FLOAT, to, &ws, &ex));
    CHECK(ws > 0, "ReduceSum asks no workspace");
    void *w = t_alloc(ws), *small = t_alloc(ws - 32);
    FAILS(aclnnReduceSum(NULL, ws, ex, NULL), ACLNN_ERR_PARAM_NULLPTR, "workspace is NULL");
    FAILS(aclnnReduceSum(w, ws - 1, ex, NULL), ACLNN_ERR_PARAM_INVALID, "less than");
    FAILS(aclnnReduceSum(small, ws, ex, NULL), ACLNN_ERR_PARAM_INVALID, "fewer than");
    FAILS(aclnnReduceSum(x, ws, ex, NULL), ACLNN_ERR_PARAM_INVALID, "not device memory");
    FAILS(aclnnAmax(w, ws, ex, NULL), ACLNN_ERR_PARAM_INVALID, "made by aclnnReduceSum");
    OK(aclnnReduceSum(w, ws, ex, NULL));
    FAILS(aclnnReduceSum(w, ws, ex, NULL), ACLNN_ERR_PARAM_INVALID, "used once");
    OK(aclrtSynchronizeStream(NULL));
    FAILS(aclnnReduceSum(w, ws, ex, NULL), ACLNN_ERR_PARAM_INVALID, "used once");
    float got[4];
    t_host(got, dout, sizeof got);
    for (int j = 0; j < 4; j++)
        CHECK(fabsf(got[j] - (x[j] + x[4 + j] + x[8 + j])) < 1e-6f, "sum %d", j);
    /* A workspace that overlaps the input corrupts it, as on a device. */
    void *big = t_alloc(4096);
    OK(aclrtMemcpy(big, 4096, x, sizeof x, ACL_MEMCPY_HOST_TO_DEVICE));
    aclTensor *tb = t_tensor(big, ACL_FLOAT, 2, dims, NULL, 0, 12);
    OK(aclnnReduceSumGetWorkspaceSize(tb, d0, false, ACL_FLOAT, to, &ws, &ex));
    OK(aclnnReduceSum(big, ws, ex, NULL));
    OK(aclrtSynchronizeStream(NULL));
    t_host(got, dout, sizeof got);
    CHECK(isnan(got[0]), "a workspace overlapping the input left it intact (%g)", got[0]);
    OK(aclDestroyTensor(tb));
    FAILS(aclDestroyTensor(tb), ACLNN_ERR_PARAM_INVALID, "destroyed already");
    FAILS(aclnnReduceSumGetWorkspaceSize(tb, d0, false, ACL_FLOAT, to, &ws, &ex), ACLNN_ERR_PARAM_INVALID, "destroyed");
    FAILS(aclnnReduceSumGetWorkspaceSize(NULL, d0, false, ACL_FLOAT, to, &ws, &ex), ACLNN_ERR_PARAM_NULLPTR, "self");
}

/* aclCreateTensor's checks. */
static void t_tensors(void) {
    t_setup(0);
    char *d = t_alloc(256);
    float h[4];
    int64_t n = 4, s1 = 1, st = 64, big = 65, two = 2;
    CHECK(aclCreateTensor(&n, 1, ACL_FLOAT, &s1, 0, ACL_FORMAT_ND, &st, 1, d) != NULL, "a valid tensor");
    CHECK(aclCreateTensor(&n, 1, ACL_FLOAT, &s1, 0, ACL_FORMAT_ND, &st, 1, d + 4) == NULL, "unaligned data accepted");
    CHECK(strstr(t_msg(), "32-byte") != NULL, "message");
    CHECK(aclCreateTensor(&n, 1, ACL_FLOAT, &s1, 0, ACL_FORMAT_ND, &big, 1, d) == NULL, "storage past allocation");
    CHECK(strstr(t_msg(), "past the end") != NULL, "message");
    CHECK(aclCreateTensor(&n, 1, ACL_FLOAT, &s1, 61, ACL_FORMAT_ND, &st, 1, d) == NULL, "view past storage");
    CHECK(aclCreateTensor(&n, 1, ACL_FLOAT, &two, 58, ACL_FORMAT_ND, &st, 1, d) == NULL, "strided view past storage");
    CHECK(aclCreateTensor(&n, 1, ACL_FLOAT, &s1, ACL_FORMAT_ND, (aclFormat)0, &st, 1, d) != NULL, "offset 2");
    CHECK(aclCreateTensor(&n, 1, ACL_FLOAT, &s1, 0, (aclFormat)47, &st, 1, d) == NULL, "unknown format");
    CHECK(aclCreateTensor(&n, 1, (aclDataType)5, &s1, 0, ACL_FORMAT_ND, &st, 1, d) == NULL, "unknown dtype");
    CHECK(aclCreateTensor(&n, 1, ACL_FLOAT, &s1, 0, ACL_FORMAT_ND, &n, 1, h) == NULL, "host data");
    CHECK(strstr(t_msg(), "host memory") != NULL, "message");
    OK(aclrtFree(d));
    CHECK(aclCreateTensor(&n, 1, ACL_FLOAT, &s1, 0, ACL_FORMAT_ND, &st, 1, d) == NULL, "freed data");
    int32_t i32 = 7;
    aclScalar *sc = aclCreateScalar(&i32, ACL_INT32);
    CHECK(sc != NULL, "int32 scalar");
    OK(aclDestroyScalar(sc));
    FAILS(aclDestroyScalar(sc), ACLNN_ERR_PARAM_INVALID, "destroyed already");
    CHECK(aclCreateScalar(&i32, ACL_FLOAT16) == NULL, "FLOAT16 scalar");
}

/* Non-deterministic operators need ACL_OPT_DETERMINISTIC. */
static void t_determinism(void) {
    t_setup(0);
    void *d = t_alloc(1024);
    int64_t g[2] = {3, 4}, i = 3, o[2] = {5, 4}, one = 1, none[1] = {0};
    (void)none;
    aclTensor *tg = t_tensor(d, ACL_FLOAT, 2, g, NULL, 0, 12), *ti = t_tensor(d, ACL_INT64, 1, &i, NULL, 0, 3),
              *to = t_tensor(d, ACL_FLOAT, 2, o, NULL, 0, 20), *tl = t_tensor(d, ACL_FLOAT, 1, &one, NULL, 0, 1);
    uint64_t ws;
    aclOpExecutor *ex;
    FAILS(aclnnEmbeddingDenseBackwardGetWorkspaceSize(tg, ti, 5, 9, false, to, &ws, &ex), ACLNN_ERR_PARAM_INVALID,
          "ACL_OPT_DETERMINISTIC");
    FAILS(aclnnNLLLossGetWorkspaceSize(tg, ti, NULL, 1, -100, tl, tl, &ws, &ex), ACLNN_ERR_PARAM_INVALID,
          "ACL_OPT_DETERMINISTIC");
    OK(aclrtCtxSetSysParamOpt(ACL_OPT_DETERMINISTIC, 1));
    OK(aclnnEmbeddingDenseBackwardGetWorkspaceSize(tg, ti, 5, 9, false, to, &ws, &ex));
    OK(aclnnNLLLossGetWorkspaceSize(tg, ti, NULL, 1, -100, tl, tl, &ws, &ex));
    /* The flag belongs to the context: a new one starts without it. */
    aclrtContext c;
    OK(aclrtCreateContext(&c, 0));
    FAILS(aclnnNLLLossGetWorkspaceSize(tg, ti, NULL, 1, -100, tl, tl, &ws, &ex), ACLNN_ERR_PARAM_INVALID,
          "ACL_OPT_DETERMINISTIC");
}

/* Ascend910A mode (FAKE_ACL_SOC=Ascend910A). */
static void t_soc910(void) {
    t_setup(1);
    CHECK(strcmp(aclrtGetSocName(), "Ascend910A") == 0, "soc %s", aclrtGetSocName());
    enum { B = 2, M = 3, K = 5, N = 4 };
    float a[B * M * K], b[B * K * N], got[B * M * N];
    t_fill(a, B * M * K, 1);
    t_fill(b, B * K * N, 2);
    for (int i = 0; i < B * M * K; i++)
        a[i] += 1e-3f; /* not representable in fp16 */
    void *da = t_dev(a, sizeof a), *db = t_dev(b, sizeof b), *dc = t_alloc(sizeof got);
    int64_t ad[3] = {B, M, K}, bd[3] = {B, K, N}, cd[3] = {B, M, N};
    aclTensor *ta = t_tensor(da, ACL_FLOAT, 3, ad, NULL, 0, B * M * K), *tb = t_tensor(db, ACL_FLOAT, 3, bd, NULL, 0, B * K * N),
              *tc = t_tensor(dc, ACL_FLOAT, 3, cd, NULL, 0, B * M * N);
    REFUSED(aclnnBatchMatMul, "ALLOW_FP32_DOWN_PRECISION", ta, tb, tc, KEEP_DTYPE);
    REFUSED(aclnnBatchMatMul, "USE_HF32", ta, tb, tc, USE_HF32);
    RUN(aclnnBatchMatMul, ta, tb, tc, ALLOW_FP32_DOWN_PRECISION);
    t_host(got, dc, sizeof got);
    for (int p = 0; p < B; p++)
        for (int i = 0; i < M; i++)
            for (int j = 0; j < N; j++) {
                float acc = 0;
                for (int k = 0; k < K; k++) {
                    float x = t_h2f(t_f2h(a[(p * M + i) * K + k])), y = t_h2f(t_f2h(b[(p * K + k) * N + j]));
                    float prod = x * y;
                    acc = acc + prod;
                }
                CHECK(got[(p * M + i) * N + j] == acc, "910 fp32 matmul [%d,%d,%d] = %.9g, fp16-rounded product %.9g", p,
                      i, j, got[(p * M + i) * N + j], acc);
            }
    uint16_t hb[4] = {0};
    void *dh = t_dev(hb, sizeof hb);
    int64_t four = 4;
    aclTensor *bf = t_tensor(dh, ACL_BF16, 1, &four, NULL, 0, 4), *f4 = t_tensor(dc, ACL_FLOAT, 1, &four, NULL, 0, 4);
    REFUSED(aclnnAdd, "BF16", f4, bf, t_double(1), f4);
    REFUSED(aclnnCast, "BF16", f4, ACL_BF16, bf);
    aclTensor *step = t_tensor(dc, ACL_FLOAT, 1, (int64_t[]){1}, NULL, 0, 1);
    REFUSED(aclnnApplyAdamWV2, "not supported on Ascend910A", f4, f4, f4, NULL, f4, step, 0.1f, 0.9f, 0.99f, 0, 1e-8f, false,
            false);
}

/* FAKE_ACL_OOM_AFTER=4096. */
static void t_oom(void) {
    t_setup(0);
    void *p;
    OK(aclrtMalloc(&p, 4000, ACL_MEM_MALLOC_HUGE_FIRST));
    OK(aclrtFree(p));
    FAILS(aclrtMalloc(&p, 200, ACL_MEM_MALLOC_HUGE_FIRST), ACL_ERROR_RT_MEMORY_ALLOCATION, "FAKE_ACL_OOM_AFTER");
}

/* FAKE_ACL_DEVICE_MEMORY=65536: real exhaustion, and first fit reuse. */
static void t_small_device(void) {
    t_setup(0);
    void *a, *b, *c;
    OK(aclrtMalloc(&a, 30000, ACL_MEM_MALLOC_HUGE_FIRST));
    OK(aclrtMalloc(&b, 30000, ACL_MEM_MALLOC_HUGE_FIRST));
    FAILS(aclrtMalloc(&c, 30000, ACL_MEM_MALLOC_HUGE_FIRST), ACL_ERROR_RT_MEMORY_ALLOCATION, "out of memory");
    OK(aclrtFree(a));
    OK(aclrtMalloc(&c, 30000, ACL_MEM_MALLOC_HUGE_FIRST));
    CHECK(c == a, "first fit did not reuse the freed block");
    CHECK((uintptr_t)b % 32 == 0 && (char *)b - (char *)a >= 30000 + 32, "alignment and padding");
}

/* FAKE_ACL_FAIL=aclnnAdd:2: the second Add fails asynchronously. */
static void t_fail(void) {
    t_setup(0);
    float x[3] = {1, 2, 3}, got[3];
    void *d = t_dev(x, sizeof x);
    int64_t n = 3;
    aclTensor *t = t_tensor(d, ACL_FLOAT, 1, &n, NULL, 0, 3);
    RUN(aclnnAdd, t, t, t_double(1), t);
    uint64_t ws;
    aclOpExecutor *ex;
    OK(aclnnAddGetWorkspaceSize(t, t, t_double(1), t, &ws, &ex));
    OK(aclnnAdd(NULL, ws, ex, NULL));
    FAILS(aclrtSynchronizeStream(NULL), ACL_ERROR_RT_AICORE_EXCEPTION, "FAKE_ACL_FAIL");
    FAILS(aclrtSynchronizeStream(NULL), ACL_ERROR_RT_AICORE_EXCEPTION, "aclnnAdd");
    t_host(got, d, sizeof got);
    CHECK(got[2] == 6, "the failed Add ran (%g)", got[2]);
}

/* Every function of ACL_FUNCS is found through a handle of its library,
 * as the backend's loader finds them. */
static void t_dlopen(void) {
    const char *dir = getenv("FAKE_ACL_LIBDIR");
    CHECK(dir != NULL, "FAKE_ACL_LIBDIR unset");
    const char *libs[3] = {"libascendcl.so", "libnnopbase.so", "libopapi.so"};
    void *h[3];
    for (int i = 0; i < 3; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, libs[i]);
        h[i] = dlopen(path, RTLD_NOW | RTLD_LOCAL);
        CHECK(h[i] != NULL, "dlopen %s: %s", path, dlerror());
    }
#define T_SYM(lib, ret, name, params, args) CHECK(dlsym(h[lib], #name) == (void *)name, "dlsym(%s, %s)", libs[lib], #name);
    ACL_FUNCS(T_SYM)
#undef T_SYM
}

const t_case t_rt_cases[] = {
    {"segv", t_segv},
    {"stale", t_stale},
    {"free", t_free},
    {"memcpy", t_memcpy},
    {"context", t_context},
    {"stream", t_stream},
    {"workspace", t_workspace},
    {"tensors", t_tensors},
    {"determinism", t_determinism},
    {"soc910", t_soc910},
    {"oom", t_oom},
    {"small_device", t_small_device},
    {"fail", t_fail},
    {"dlopen", t_dlopen},
    {NULL, NULL},
};
