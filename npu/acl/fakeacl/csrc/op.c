/*
 * op.c: the two-phase operator plumbing. The first phase (fk_op_*) checks
 * the arguments, snapshots them in an executor and says how much workspace
 * it needs; the second (fk_launch) checks the workspace and the executor
 * and queues the kernel on the stream.
 */
#include "fake.h"
#include <fcntl.h>
#include <unistd.h>

#include <stdint.h>

int fk_isfloat(aclDataType dt) { return dt == ACL_FLOAT || dt == ACL_FLOAT16 || dt == ACL_BF16; }

int fk_isint(aclDataType dt) {
    return dt == ACL_INT8 || dt == ACL_UINT8 || dt == ACL_INT16 || dt == ACL_INT32 || dt == ACL_INT64;
}

/* fk_promote is torch's type promotion for the dtypes the operators take:
 * two different float types give FLOAT, a float beats an integer, INT64
 * beats INT32, anything beats BOOL. */
aclDataType fk_promote(aclDataType a, aclDataType b) {
    if (a == b)
        return a;
    if (fk_isfloat(a) && fk_isfloat(b))
        return ACL_FLOAT;
    if (fk_isfloat(a))
        return a;
    if (fk_isfloat(b))
        return b;
    if (a == ACL_BOOL)
        return b;
    if (b == ACL_BOOL)
        return a;
    return fk_esize(a) >= fk_esize(b) ? a : b;
}

/* fk_cancast is torch's can_cast: no float to integer or bool, no integer
 * to bool. */
int fk_cancast(aclDataType from, aclDataType to) {
    if (fk_isfloat(from) && !fk_isfloat(to))
        return 0;
    if (fk_isint(from) && to == ACL_BOOL)
        return 0;
    return 1;
}

int64_t fk_numel(const aclTensor *t) {
    int64_t n = 1;
    for (int i = 0; i < t->nd; i++)
        n *= t->dims[i];
    return n;
}

int fk_dimsare(const aclTensor *t, const int64_t *dims, int nd) {
    if (t->nd != nd)
        return 0;
    for (int i = 0; i < nd; i++)
        if (t->dims[i] != dims[i])
            return 0;
    return 1;
}

int fk_sameshape(const aclTensor *a, const aclTensor *b) { return fk_dimsare(a, b->dims, b->nd); }

/* fk_bshape is NumPy's broadcast of two shapes; 0 when they do not. */
int fk_bshape(const aclTensor *a, const aclTensor *b, int64_t *dims, int *nd) {
    int n = a->nd > b->nd ? a->nd : b->nd;
    for (int d = 0; d < n; d++) {
        int ka = d - (n - a->nd), kb = d - (n - b->nd);
        int64_t x = ka >= 0 ? a->dims[ka] : 1, y = kb >= 0 ? b->dims[kb] : 1;
        if (x != y && x != 1 && y != 1)
            return 0;
        dims[d] = x == 1 ? y : x;
    }
    *nd = n;
    return 1;
}

const char *fk_shapestr(const aclTensor *t, char *buf, size_t n) {
    size_t k = (size_t)snprintf(buf, n, "(");
    for (int i = 0; i < t->nd && k < n; i++)
        k += (size_t)snprintf(buf + k, n - k, i ? ",%lld" : "%lld", (long long)t->dims[i]);
    if (k < n)
        snprintf(buf + k, n - k, ")");
    return buf;
}

int fk_op_err(fk_op *o, int code, const char *fmt, ...) {
    char buf[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (o->e != NULL) {
        free(o->e);
        o->e = NULL;
    }
    return fk_fail(code, "%sGetWorkspaceSize: %s", o->name, buf);
}

int fk_op_begin(fk_op *o, const char *name, uint64_t *ws, aclOpExecutor **ex) {
    o->name = name;
    o->e = NULL;
    o->wsout = ws;
    o->exout = ex;
    if (!fk_g.inited)
        return fk_op_err(o, ACLNN_ERR_RUNTIME_ERROR, "ACL is not initialised (ACL_ERROR_UNINITIALIZE)");
    if (fk_cur == NULL || !fk_cur->alive)
        return fk_op_err(o, ACLNN_ERR_RUNTIME_ERROR, "this thread has no current context (ACL_ERROR_RT_CONTEXT_NULL)");
    if (ws == NULL || ex == NULL)
        return fk_op_err(o, ACLNN_ERR_PARAM_NULLPTR, "workspaceSize or executor is NULL");
    o->e = calloc(1, sizeof *o->e);
    if (o->e == NULL)
        return fk_op_err(o, ACLNN_ERR_INNER, "out of host memory");
    o->e->op = name;
    o->e->dev = fk_cur->dev;
    return 0;
}

/* fk_op_tensor checks a tensor argument and keeps a copy in slot. */
int fk_op_tensor(fk_op *o, int slot, const char *arg, const aclTensor *t, bool optional) {
    if (t == NULL) {
        if (optional)
            return 0;
        return fk_op_err(o, ACLNN_ERR_PARAM_NULLPTR, "%s is NULL", arg);
    }
    if (t->magic == FK_DEAD)
        return fk_op_err(o, ACLNN_ERR_PARAM_INVALID, "%s was destroyed", arg);
    if (t->magic != FK_LIVE)
        return fk_op_err(o, ACLNN_ERR_PARAM_INVALID, "%s is not a tensor", arg);
    if (t->dev != fk_cur->dev)
        return fk_op_err(o, ACLNN_ERR_PARAM_INVALID, "%s is on device %d, the current device is %d", arg, t->dev->id,
                         fk_cur->dev->id);
    /* Stricter than a real Ascend910A, where a few operators take BF16: here
     * none does, since the backend must not depend on one that might. */
    if (fk_g.soc == FK_SOC_910A && t->dt == ACL_BF16)
        return fk_op_err(o, ACLNN_ERR_PARAM_INVALID, "%s is BF16, which %s does not support", arg, fk_g.socname);
    o->e->t[slot] = *t;
    o->e->has[slot] = 1;
    return 0;
}

int fk_op_scalar(fk_op *o, const char *arg, const aclScalar *s, double *v, aclDataType *dt) {
    if (s == NULL)
        return fk_op_err(o, ACLNN_ERR_PARAM_NULLPTR, "%s is NULL", arg);
    if (s->magic == FK_DEAD)
        return fk_op_err(o, ACLNN_ERR_PARAM_INVALID, "%s was destroyed", arg);
    if (s->magic != FK_LIVE)
        return fk_op_err(o, ACLNN_ERR_PARAM_INVALID, "%s is not a scalar", arg);
    *v = s->v;
    if (dt != NULL)
        *dt = s->dt;
    return 0;
}

/* fk_op_intarray copies a dims array into e->arr. */
int fk_op_intarray(fk_op *o, const char *arg, const aclIntArray *a) {
    if (a == NULL)
        return fk_op_err(o, ACLNN_ERR_PARAM_NULLPTR, "%s is NULL", arg);
    if (a->magic != FK_LIVE)
        return fk_op_err(o, ACLNN_ERR_PARAM_INVALID, "%s is not a live int array", arg);
    if (a->n > FK_MAXDIM)
        return fk_op_err(o, ACLNN_ERR_PARAM_INVALID, "%s has %llu values, more than %d", arg, (unsigned long long)a->n,
                         FK_MAXDIM);
    o->e->narr = (int)a->n;
    for (uint64_t i = 0; i < a->n; i++)
        o->e->arr[i] = a->v[i];
    return 0;
}

int fk_op_end(fk_op *o, fk_kernel k, uint64_t ws) {
    o->e->kernel = k;
    o->e->ws = ws;
    o->e->magic = FK_LIVE;
    *o->wsout = ws;
    *o->exout = o->e;
    o->e = NULL;
    return 0;
}

/* The task that runs an executor's kernel. */
static int fk_optask(fk_task *t, char *msg, size_t msglen) {
    aclOpExecutor *e = t->exec;
    fk_tv tv[FK_MAXT];
    memset(tv, 0, sizeof tv);
    for (int i = 0; i < FK_MAXT; i++) {
        if (!e->has[i])
            continue;
        const aclTensor *a = &e->t[i];
        fk_tv *v = &tv[i];
        v->dt = a->dt;
        v->nd = a->nd;
        v->numel = 1;
        for (int d = 0; d < a->nd; d++) {
            v->dims[d] = a->dims[d];
            v->strides[d] = a->strides[d];
            v->numel *= a->dims[d];
        }
        v->p = a->dev->rw + (a->data - a->dev->dv) + a->offset * (int64_t)fk_esize(a->dt);
    }
    if (e->ws > 0) /* the kernel scribbles over all its workspace */
        memset(e->dev->rw + ((char *)t->ws - e->dev->dv), FK_GARBAGE, e->ws);
    int rc = e->kernel(e, tv, msg, msglen);
    if (rc != 0 && msg[0] != 0) {
        char tmp[512];
        snprintf(tmp, sizeof tmp, "%s: %s", e->op, msg);
        snprintf(msg, msglen, "%s", tmp);
    }
    return rc;
}

static void fk_optask_done(fk_task *t) { fk_retire(t->exec); }

static int fk_matchfail(const char *op) {
    if (fk_g.failn == 0)
        return 0;
    if (strcmp(fk_g.failop, op) != 0 && !(strncmp(op, "aclnn", 5) == 0 && strcmp(fk_g.failop, op + 5) == 0))
        return 0;
    pthread_mutex_lock(&fk_g.mu);
    int hit = ++fk_g.failcount == fk_g.failn;
    pthread_mutex_unlock(&fk_g.mu);
    /* FAKE_ACL_FAIL_ONCE=path: only the first process to reach the count
     * fails (it creates path), so a restarted job does not fail again. */
    const char *once = getenv("FAKE_ACL_FAIL_ONCE");
    if (hit && once != NULL && *once != 0) {
        int fd = open(once, O_CREAT | O_EXCL | O_WRONLY, 0644);
        if (fd < 0)
            return 0;
        close(fd);
    }
    return hit;
}

/* fk_launch is every operator's second phase. */
int fk_launch(const char *op, void *ws, uint64_t wsn, aclOpExecutor *e, aclrtStream stream) {
    if (!fk_g.inited)
        return fk_fail(ACLNN_ERR_RUNTIME_ERROR, "%s: ACL is not initialised (ACL_ERROR_UNINITIALIZE)", op);
    if (fk_cur == NULL || !fk_cur->alive)
        return fk_fail(ACLNN_ERR_RUNTIME_ERROR, "%s: this thread has no current context (ACL_ERROR_RT_CONTEXT_NULL)", op);
    if (e == NULL)
        return fk_fail(ACLNN_ERR_PARAM_NULLPTR, "%s: executor is NULL", op);
    if (e->magic == FK_USED)
        return fk_fail(ACLNN_ERR_PARAM_INVALID,
                       "%s: this executor has run already: an executor is used once; call %sGetWorkspaceSize again", op, op);
    if (e->magic != FK_LIVE)
        return fk_fail(ACLNN_ERR_PARAM_INVALID, "%s: %p is not an executor", op, (void *)e);
    if (strcmp(e->op, op) != 0)
        return fk_fail(ACLNN_ERR_PARAM_INVALID, "%s: the executor was made by %sGetWorkspaceSize", op, e->op);
    fk_stream *s;
    if (fk_stream_get(stream, &s) != 0)
        return fk_fail(ACLNN_ERR_RUNTIME_ERROR, "%s: %s", op, aclGetRecentErrMsg());
    if (e->dev != s->ctx->dev)
        return fk_fail(ACLNN_ERR_PARAM_INVALID, "%s: the executor's tensors are on device %d, the stream on device %d", op,
                       e->dev->id, s->ctx->dev->id);
    if (e->ws > 0 && ws == NULL)
        return fk_fail(ACLNN_ERR_PARAM_NULLPTR, "%s: workspace is NULL but %sGetWorkspaceSize asked for %llu bytes", op, op,
                       (unsigned long long)e->ws);
    if (wsn < e->ws)
        return fk_fail(ACLNN_ERR_PARAM_INVALID, "%s: workspaceSize %llu is less than the %llu bytes asked for", op,
                       (unsigned long long)wsn, (unsigned long long)e->ws);
    fk_task *t = calloc(1, sizeof *t);
    if (t == NULL)
        return fk_fail(ACLNN_ERR_INNER, "%s: out of host memory", op);
    int rc = 0;
    pthread_mutex_lock(&fk_g.mu);
    if (e->ws > 0) {
        fk_dev *d = fk_devof(ws);
        fk_alloc *a = d == e->dev ? fk_allocof(d, ws) : NULL;
        if (a == NULL)
            rc = fk_fail(ACLNN_ERR_PARAM_INVALID, "%s: workspace %p is not device memory of device %d", op, ws, e->dev->id);
        else if ((size_t)((char *)ws - d->dv) + e->ws > a->off + a->size)
            rc = fk_fail(ACLNN_ERR_PARAM_INVALID,
                         "%s: workspace %p has fewer than the %llu bytes asked for left in its %zu-byte allocation", op, ws,
                         (unsigned long long)e->ws, a->size);
        else
            fk_ref(t, a);
    }
    for (int i = 0; i < FK_MAXT && rc == 0; i++) {
        if (!e->has[i])
            continue;
        fk_alloc *a = fk_allocof(e->dev, e->t[i].data);
        if (a == NULL)
            rc = fk_fail(ACLNN_ERR_PARAM_INVALID, "%s: the memory of tensor argument %d was freed", op, i);
        else
            fk_ref(t, a);
    }
    if (rc != 0) {
        for (int i = 0; i < t->nref; i++)
            t->ref[i]->pending--;
        pthread_mutex_unlock(&fk_g.mu);
        free(t);
        return rc;
    }
    e->magic = FK_USED;
    pthread_mutex_unlock(&fk_g.mu);
    t->op = op;
    t->exec = e;
    t->ws = ws;
    t->run = fk_optask;
    t->done = fk_optask_done;
    t->fail = fk_matchfail(op);
    fk_enqueue(s, t);
    return 0;
}
