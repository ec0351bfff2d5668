/*
 * tensor.c: nnopbase's argument objects (aclTensor, aclScalar, aclIntArray,
 * aclBoolArray), validated as aclCreateTensor's documentation asks.
 */
#include "fake.h"

#include <stdint.h>

size_t fk_esize(aclDataType dt) {
    switch (dt) {
    case ACL_FLOAT:
    case ACL_INT32:
    case ACL_UINT32:
        return 4;
    case ACL_FLOAT16:
    case ACL_BF16:
    case ACL_INT16:
    case ACL_UINT16:
        return 2;
    case ACL_INT8:
    case ACL_UINT8:
    case ACL_BOOL:
        return 1;
    case ACL_INT64:
    case ACL_UINT64:
    case ACL_DOUBLE:
        return 8;
    default:
        return 0;
    }
}

const char *fk_dtname(aclDataType dt) {
    switch (dt) {
    case ACL_FLOAT:
        return "FLOAT";
    case ACL_FLOAT16:
        return "FLOAT16";
    case ACL_BF16:
        return "BF16";
    case ACL_INT8:
        return "INT8";
    case ACL_INT16:
        return "INT16";
    case ACL_INT32:
        return "INT32";
    case ACL_INT64:
        return "INT64";
    case ACL_UINT8:
        return "UINT8";
    case ACL_UINT16:
        return "UINT16";
    case ACL_UINT32:
        return "UINT32";
    case ACL_UINT64:
        return "UINT64";
    case ACL_DOUBLE:
        return "DOUBLE";
    case ACL_BOOL:
        return "BOOL";
    default:
        return "?";
    }
}

static aclTensor *fk_tfail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static aclTensor *fk_tfail(const char *fmt, ...) {
    char buf[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    fk_fail(ACLNN_ERR_PARAM_INVALID, "aclCreateTensor: %s", buf);
    return NULL;
}

/* aclCreateTensor: viewDims and stride in elements, offset in elements from
 * tensorData, storageDims the extent of the storage; tensorData is the
 * storage's device address on the current device, 32-byte aligned, and the
 * storage lies inside one allocation. Returns NULL (with the message set)
 * for anything else. */
aclTensor *aclCreateTensor(const int64_t *viewDims, uint64_t viewDimsNum, aclDataType dataType, const int64_t *stride,
                           int64_t offset, aclFormat format, const int64_t *storageDims, uint64_t storageDimsNum,
                           void *tensorData) {
    if (fk_needctx() != 0)
        return NULL;
    if (viewDimsNum > FK_MAXDIM || storageDimsNum > FK_MAXDIM)
        return fk_tfail("at most %d dimensions (view %llu, storage %llu)", FK_MAXDIM, (unsigned long long)viewDimsNum,
                        (unsigned long long)storageDimsNum);
    if ((viewDimsNum > 0 && (viewDims == NULL || stride == NULL)) || (storageDimsNum > 0 && storageDims == NULL))
        return fk_tfail("viewDims, stride or storageDims is NULL");
    size_t es = fk_esize(dataType);
    if (es == 0)
        return fk_tfail("dataType %d is not an aclDataType", (int)dataType);
    if (format != ACL_FORMAT_ND && format != ACL_FORMAT_NCHW && format != ACL_FORMAT_NHWC)
        return fk_tfail("format %d is not ND, NCHW or NHWC (did offset and format trade places?)", (int)format);
    if (offset < 0)
        return fk_tfail("offset %lld is negative", (long long)offset);
    int64_t numel = 1, last = offset;
    for (uint64_t i = 0; i < viewDimsNum; i++) {
        if (viewDims[i] < 0 || stride[i] < 0)
            return fk_tfail("view dimension %llu: size %lld, stride %lld: negative", (unsigned long long)i,
                            (long long)viewDims[i], (long long)stride[i]);
        numel *= viewDims[i];
        if (viewDims[i] > 0)
            last += (viewDims[i] - 1) * stride[i];
    }
    int64_t snumel = 1;
    for (uint64_t i = 0; i < storageDimsNum; i++) {
        if (storageDims[i] < 0)
            return fk_tfail("storage dimension %llu is negative", (unsigned long long)i);
        snumel *= storageDims[i];
    }
    if (numel > 0 && last >= snumel)
        return fk_tfail("the view reaches element %lld (offset %lld + strides), past the %lld elements of its storage",
                        (long long)last, (long long)offset, (long long)snumel);
    if (tensorData == NULL)
        return fk_tfail("tensorData is NULL");
    fk_dev *d = fk_devof(tensorData);
    if (d == NULL)
        return fk_tfail("tensorData %p is host memory, not a device address", tensorData);
    if (d != fk_cur->dev)
        return fk_tfail("tensorData %p is on device %d, the current device is %d", tensorData, d->id, fk_cur->dev->id);
    if ((uintptr_t)tensorData % 32 != 0)
        return fk_tfail("tensorData %p is not 32-byte aligned (pass the allocation's address and an element offset)",
                        tensorData);
    pthread_mutex_lock(&fk_g.mu);
    fk_alloc *a = fk_allocof(d, tensorData);
    size_t off = (size_t)((char *)tensorData - d->dv), end = a ? a->off + a->size : 0;
    pthread_mutex_unlock(&fk_g.mu);
    if (a == NULL)
        return fk_tfail("tensorData %p is not in any allocation (freed?)", tensorData);
    if (off + (size_t)snumel * es > end)
        return fk_tfail("the storage (%lld elements of %zu bytes at %p) runs past the end of its %zu-byte allocation",
                        (long long)snumel, es, tensorData, a->size);
    aclTensor *t = calloc(1, sizeof *t);
    if (t == NULL) {
        fk_fail(ACLNN_ERR_INNER, "aclCreateTensor: out of host memory");
        return NULL;
    }
    t->magic = FK_LIVE;
    t->dt = dataType;
    t->fmt = format;
    t->nd = (int)viewDimsNum;
    t->snd = (int)storageDimsNum;
    for (int i = 0; i < t->nd; i++) {
        t->dims[i] = viewDims[i];
        t->strides[i] = stride[i];
    }
    for (int i = 0; i < t->snd; i++)
        t->sdims[i] = storageDims[i];
    t->offset = offset;
    t->snumel = snumel;
    t->data = tensorData;
    t->dev = d;
    return t;
}

static aclnnStatus fk_destroy(unsigned *magic, const char *fn, const char *what) {
    if (magic == NULL)
        return fk_fail(ACLNN_ERR_PARAM_NULLPTR, "%s: %s is NULL", fn, what);
    if (*magic == FK_DEAD)
        return fk_fail(ACLNN_ERR_PARAM_INVALID, "%s: %p was destroyed already", fn, (void *)magic);
    if (*magic != FK_LIVE)
        return fk_fail(ACLNN_ERR_PARAM_INVALID, "%s: %p is not a live %s", fn, (void *)magic, what);
    *magic = FK_DEAD;
    fk_retire(magic);
    return 0;
}

aclnnStatus aclDestroyTensor(const aclTensor *tensor) {
    return fk_destroy(tensor ? (unsigned *)&((aclTensor *)tensor)->magic : NULL, "aclDestroyTensor", "tensor");
}

/* aclCreateScalar copies the value: FLOAT, DOUBLE, INT64, INT32 or BOOL. */
aclScalar *aclCreateScalar(void *value, aclDataType dataType) {
    if (value == NULL) {
        fk_fail(ACLNN_ERR_PARAM_NULLPTR, "aclCreateScalar: value is NULL");
        return NULL;
    }
    aclScalar *s = calloc(1, sizeof *s);
    if (s == NULL) {
        fk_fail(ACLNN_ERR_INNER, "aclCreateScalar: out of host memory");
        return NULL;
    }
    switch (dataType) {
    case ACL_FLOAT: {
        float f;
        memcpy(&f, value, 4);
        s->v = f;
        break;
    }
    case ACL_DOUBLE:
        memcpy(&s->v, value, 8);
        break;
    case ACL_INT64:
        memcpy(&s->i, value, 8);
        s->v = (double)s->i;
        break;
    case ACL_INT32: {
        int32_t i;
        memcpy(&i, value, 4);
        s->i = i;
        s->v = i;
        break;
    }
    case ACL_BOOL:
        s->i = *(const bool *)value;
        s->v = (double)s->i;
        break;
    default:
        free(s);
        fk_fail(ACLNN_ERR_PARAM_INVALID, "aclCreateScalar: dataType %s (%d) is not FLOAT, DOUBLE, INT64, INT32 or BOOL",
                fk_dtname(dataType), (int)dataType);
        return NULL;
    }
    s->magic = FK_LIVE;
    s->dt = dataType;
    return s;
}

aclnnStatus aclDestroyScalar(const aclScalar *scalar) {
    return fk_destroy(scalar ? (unsigned *)&((aclScalar *)scalar)->magic : NULL, "aclDestroyScalar", "scalar");
}

aclIntArray *aclCreateIntArray(const int64_t *value, uint64_t size) {
    if (value == NULL && size > 0) {
        fk_fail(ACLNN_ERR_PARAM_NULLPTR, "aclCreateIntArray: value is NULL");
        return NULL;
    }
    aclIntArray *a = calloc(1, sizeof *a + size * sizeof(int64_t));
    if (a == NULL) {
        fk_fail(ACLNN_ERR_INNER, "aclCreateIntArray: out of host memory");
        return NULL;
    }
    a->magic = FK_LIVE;
    a->n = size;
    a->v = (int64_t *)(a + 1);
    if (size > 0)
        memcpy(a->v, value, size * sizeof(int64_t));
    return a;
}

aclnnStatus aclDestroyIntArray(const aclIntArray *array) {
    return fk_destroy(array ? (unsigned *)&((aclIntArray *)array)->magic : NULL, "aclDestroyIntArray", "int array");
}

aclBoolArray *aclCreateBoolArray(const bool *value, uint64_t size) {
    if (value == NULL && size > 0) {
        fk_fail(ACLNN_ERR_PARAM_NULLPTR, "aclCreateBoolArray: value is NULL");
        return NULL;
    }
    aclBoolArray *a = calloc(1, sizeof *a + size * sizeof(bool));
    if (a == NULL) {
        fk_fail(ACLNN_ERR_INNER, "aclCreateBoolArray: out of host memory");
        return NULL;
    }
    a->magic = FK_LIVE;
    a->n = size;
    a->v = (bool *)(a + 1);
    if (size > 0)
        memcpy(a->v, value, size * sizeof(bool));
    return a;
}

aclnnStatus aclDestroyBoolArray(const aclBoolArray *array) {
    return fk_destroy(array ? (unsigned *)&((aclBoolArray *)array)->magic : NULL, "aclDestroyBoolArray", "bool array");
}
