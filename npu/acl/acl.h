/*
 * acl.h: the part of Ascend's C API (AscendCL runtime, nnopbase, aclnn
 * operators) that bloom's npu/acl backend calls, declared here in plain C so
 * that neither CANN's headers nor its libraries are needed to build. The
 * prototypes, enum values and error codes are CANN's (acl/acl_rt.h,
 * acl/acl_base.h, aclnn/acl_meta.h, aclnnop/aclnn_*.h); their sources are in
 * the project's reference notes (collective.md §3, ascend.md §1).
 *
 * Two things implement it: CANN's libascendcl.so, libnnopbase.so and
 * libopapi.so, which the backend opens with dlopen at run time, and the fake
 * in fakeacl/, which the tests build with the system C compiler.
 *
 * ACL_FUNCS lists every function once, as X(library, return type, name,
 * parameter list, argument list); the backend's loader and the fake are both
 * generated from it, so their prototypes cannot drift apart. Library 0 is
 * libascendcl, 1 libnnopbase, 2 libopapi.
 */
#ifndef BLOOM_ACL_H
#define BLOOM_ACL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef int aclError;
typedef int32_t aclnnStatus;
typedef void *aclrtStream;
typedef void *aclrtContext;

typedef struct aclTensor aclTensor;
typedef struct aclScalar aclScalar;
typedef struct aclIntArray aclIntArray;
typedef struct aclBoolArray aclBoolArray;
typedef struct aclOpExecutor aclOpExecutor;

/* acl_base.h */
typedef enum {
    ACL_DT_UNDEFINED = -1, ACL_FLOAT = 0, ACL_FLOAT16 = 1, ACL_INT8 = 2, ACL_INT32 = 3, ACL_UINT8 = 4,
    ACL_INT16 = 6, ACL_UINT16 = 7, ACL_UINT32 = 8, ACL_INT64 = 9, ACL_UINT64 = 10, ACL_DOUBLE = 11,
    ACL_BOOL = 12, ACL_BF16 = 27
} aclDataType;

typedef enum { ACL_FORMAT_UNDEFINED = -1, ACL_FORMAT_NCHW = 0, ACL_FORMAT_NHWC = 1, ACL_FORMAT_ND = 2 } aclFormat;

/* acl_rt.h */
typedef enum {
    ACL_MEMCPY_HOST_TO_HOST = 0, ACL_MEMCPY_HOST_TO_DEVICE = 1, ACL_MEMCPY_DEVICE_TO_HOST = 2,
    ACL_MEMCPY_DEVICE_TO_DEVICE = 3
} aclrtMemcpyKind;

typedef enum { ACL_MEM_MALLOC_HUGE_FIRST = 0, ACL_MEM_MALLOC_HUGE_ONLY = 1, ACL_MEM_MALLOC_NORMAL_ONLY = 2 } aclrtMemMallocPolicy;

typedef enum { ACL_DDR_MEM = 0, ACL_HBM_MEM = 1 } aclrtMemAttr;

typedef enum { ACL_OPT_DETERMINISTIC = 0, ACL_OPT_ENABLE_DEBUG_KERNEL = 1 } aclSysParamOpt;

/* aclnn's cubeMathType (aclnnMatmul.md): how the cube computes a float32 product. */
enum { KEEP_DTYPE = 0, ALLOW_FP32_DOWN_PRECISION = 1, USE_FP16 = 2, USE_HF32 = 3 };

/* Error codes (acl_base.h, rt_error_codes.h, aclnn_return_code.md). */
enum {
    ACL_SUCCESS = 0,
    ACL_ERROR_INVALID_PARAM = 100000,
    ACL_ERROR_UNINITIALIZE = 100001,
    ACL_ERROR_REPEAT_INITIALIZE = 100002,
    ACL_ERROR_BAD_ALLOC = 200000,
    ACL_ERROR_API_NOT_SUPPORT = 200001,
    ACL_ERROR_INVALID_DEVICE = 200002,
    ACL_ERROR_MEMORY_ADDRESS_UNALIGNED = 200003,
    ACL_ERROR_RT_PARAM_INVALID = 107000,
    ACL_ERROR_RT_INVALID_DEVICEID = 107001,
    ACL_ERROR_RT_CONTEXT_NULL = 107002,
    ACL_ERROR_RT_MEMORY_ALLOCATION = 207001,
    ACL_ERROR_RT_NO_DEVICE = 207004,
    ACL_ERROR_RT_DEVICE_OOM = 207018,
    ACL_ERROR_RT_INTERNAL_ERROR = 507000,
    ACL_ERROR_RT_AICORE_EXCEPTION = 507015,
    ACLNN_SUCCESS = 0,
    ACLNN_ERR_PARAM_NULLPTR = 161001,
    ACLNN_ERR_PARAM_INVALID = 161002,
    ACLNN_ERR_RUNTIME_ERROR = 361001,
    ACLNN_ERR_INNER = 561000,
};

/*
 * The functions. Every aclnn operator is two calls: aclnnXxxGetWorkspaceSize
 * (arguments, then uint64_t *workspaceSize, aclOpExecutor **executor) and
 * aclnnXxx(void *workspace, uint64_t workspaceSize, aclOpExecutor *executor,
 * aclrtStream stream); ACL_OP lists both.
 */
#define ACL_OP(X, name, params, args)                                                                          \
    X(2, aclnnStatus, name##GetWorkspaceSize, (ACL_UNPAREN params, uint64_t *workspaceSize, aclOpExecutor **executor), \
      (ACL_UNPAREN args, workspaceSize, executor))                                                              \
    X(2, aclnnStatus, name, (void *workspace, uint64_t workspaceSize, aclOpExecutor *executor, aclrtStream stream), \
      (workspace, workspaceSize, executor, stream))
#define ACL_UNPAREN(...) __VA_ARGS__

#define ACL_FUNCS(X)                                                                                            \
    /* runtime: libascendcl.so */                                                                                \
    X(0, aclError, aclInit, (const char *configPath), (configPath))                                             \
    X(0, aclError, aclFinalize, (void), ())                                                                     \
    X(0, const char *, aclGetRecentErrMsg, (void), ())                                                          \
    X(0, const char *, aclrtGetSocName, (void), ())                                                             \
    X(0, aclError, aclrtGetDeviceCount, (uint32_t *count), (count))                                             \
    X(0, aclError, aclrtSetDevice, (int32_t deviceId), (deviceId))                                              \
    X(0, aclError, aclrtResetDevice, (int32_t deviceId), (deviceId))                                            \
    X(0, aclError, aclrtCreateContext, (aclrtContext *context, int32_t deviceId), (context, deviceId))          \
    X(0, aclError, aclrtDestroyContext, (aclrtContext context), (context))                                      \
    X(0, aclError, aclrtSetCurrentContext, (aclrtContext context), (context))                                   \
    X(0, aclError, aclrtCtxSetSysParamOpt, (aclSysParamOpt opt, int64_t value), (opt, value))                   \
    X(0, aclError, aclrtCreateStream, (aclrtStream *stream), (stream))                                          \
    X(0, aclError, aclrtDestroyStream, (aclrtStream stream), (stream))                                          \
    X(0, aclError, aclrtSynchronizeStream, (aclrtStream stream), (stream))                                      \
    X(0, aclError, aclrtMalloc, (void **devPtr, size_t size, aclrtMemMallocPolicy policy), (devPtr, size, policy)) \
    X(0, aclError, aclrtFree, (void *devPtr), (devPtr))                                                         \
    X(0, aclError, aclrtMallocHost, (void **hostPtr, size_t size), (hostPtr, size))                             \
    X(0, aclError, aclrtFreeHost, (void *hostPtr), (hostPtr))                                                   \
    X(0, aclError, aclrtGetMemInfo, (aclrtMemAttr attr, size_t *free, size_t *total), (attr, free, total))      \
    X(0, aclError, aclrtMemcpy, (void *dst, size_t destMax, const void *src, size_t count, aclrtMemcpyKind kind), \
      (dst, destMax, src, count, kind))                                                                         \
    X(0, aclError, aclrtMemcpyAsync,                                                                            \
      (void *dst, size_t destMax, const void *src, size_t count, aclrtMemcpyKind kind, aclrtStream stream),     \
      (dst, destMax, src, count, kind, stream))                                                                 \
    X(0, aclError, aclrtMemsetAsync, (void *devPtr, size_t maxCount, int32_t value, size_t count, aclrtStream stream), \
      (devPtr, maxCount, value, count, stream))                                                                 \
    /* saturation mode's overflow flag (Ascend 910): 64 bytes of status into device memory, then reset */          \
    X(0, aclError, aclrtGetOverflowStatus, (void *outputAddr, size_t outputSize, aclrtStream stream),            \
      (outputAddr, outputSize, stream))                                                                         \
    X(0, aclError, aclrtResetOverflowStatus, (aclrtStream stream), (stream))                                    \
    /* tensors and arguments: libnnopbase.so */                                                                  \
    X(1, aclTensor *, aclCreateTensor,                                                                          \
      (const int64_t *viewDims, uint64_t viewDimsNum, aclDataType dataType, const int64_t *stride, int64_t offset, \
       aclFormat format, const int64_t *storageDims, uint64_t storageDimsNum, void *tensorData),                \
      (viewDims, viewDimsNum, dataType, stride, offset, format, storageDims, storageDimsNum, tensorData))       \
    X(1, aclnnStatus, aclDestroyTensor, (const aclTensor *tensor), (tensor))                                    \
    X(1, aclScalar *, aclCreateScalar, (void *value, aclDataType dataType), (value, dataType))                  \
    X(1, aclnnStatus, aclDestroyScalar, (const aclScalar *scalar), (scalar))                                    \
    X(1, aclIntArray *, aclCreateIntArray, (const int64_t *value, uint64_t size), (value, size))                \
    X(1, aclnnStatus, aclDestroyIntArray, (const aclIntArray *array), (array))                                  \
    X(1, aclBoolArray *, aclCreateBoolArray, (const bool *value, uint64_t size), (value, size))                 \
    X(1, aclnnStatus, aclDestroyBoolArray, (const aclBoolArray *array), (array))                                \
    /* operators: libopapi.so */                                                                                 \
    ACL_OP(X, aclnnInplaceAddmm,                                                                                \
           (const aclTensor *selfRef, const aclTensor *mat1, const aclTensor *mat2, const aclScalar *beta,       \
            const aclScalar *alpha, int8_t cubeMathType),                                                        \
           (selfRef, mat1, mat2, beta, alpha, cubeMathType))                                                    \
    ACL_OP(X, aclnnBatchMatMul, (const aclTensor *self, const aclTensor *mat2, aclTensor *out, int8_t cubeMathType), \
           (self, mat2, out, cubeMathType))                                                                     \
    ACL_OP(X, aclnnAdd, (const aclTensor *self, const aclTensor *other, const aclScalar *alpha, aclTensor *out), \
           (self, other, alpha, out))                                                                           \
    ACL_OP(X, aclnnInplaceAdd, (aclTensor *selfRef, const aclTensor *other, const aclScalar *alpha),            \
           (selfRef, other, alpha))                                                                             \
    ACL_OP(X, aclnnSub, (const aclTensor *self, const aclTensor *other, const aclScalar *alpha, aclTensor *out), \
           (self, other, alpha, out))                                                                           \
    ACL_OP(X, aclnnMul, (const aclTensor *self, const aclTensor *other, aclTensor *out), (self, other, out))    \
    ACL_OP(X, aclnnDiv, (const aclTensor *self, const aclTensor *other, aclTensor *out), (self, other, out))    \
    ACL_OP(X, aclnnInplaceMuls, (aclTensor *selfRef, const aclScalar *other), (selfRef, other))                 \
    ACL_OP(X, aclnnAdds, (const aclTensor *self, const aclScalar *other, const aclScalar *alpha, aclTensor *out), \
           (self, other, alpha, out))                                                                           \
    ACL_OP(X, aclnnSqrt, (const aclTensor *self, aclTensor *out), (self, out))                                  \
    ACL_OP(X, aclnnExp, (const aclTensor *self, aclTensor *out), (self, out))                                   \
    ACL_OP(X, aclnnCast, (const aclTensor *self, const aclDataType dtype, aclTensor *out), (self, dtype, out))  \
    ACL_OP(X, aclnnInplaceCopy, (aclTensor *selfRef, const aclTensor *src), (selfRef, src))                     \
    ACL_OP(X, aclnnInplaceFillScalar, (aclTensor *selfRef, const aclScalar *value), (selfRef, value))           \
    ACL_OP(X, aclnnInplaceMaskedFillScalar, (aclTensor *selfRef, const aclTensor *mask, const aclScalar *value), \
           (selfRef, mask, value))                                                                              \
    ACL_OP(X, aclnnReduceSum,                                                                                   \
           (const aclTensor *self, const aclIntArray *dims, bool keepDims, aclDataType dtype, aclTensor *out),  \
           (self, dims, keepDims, dtype, out))                                                                  \
    ACL_OP(X, aclnnAmax, (const aclTensor *self, const aclIntArray *dim, bool keepDim, aclTensor *out),         \
           (self, dim, keepDim, out))                                                                           \
    ACL_OP(X, aclnnLayerNorm,                                                                                   \
           (const aclTensor *input, const aclIntArray *normalizedShape, const aclTensor *weightOptional,         \
            const aclTensor *biasOptional, double eps, aclTensor *out, aclTensor *meanOutOptional,              \
            aclTensor *rstdOutOptional),                                                                         \
           (input, normalizedShape, weightOptional, biasOptional, eps, out, meanOutOptional, rstdOutOptional))  \
    ACL_OP(X, aclnnLayerNormBackward,                                                                           \
           (const aclTensor *gradOut, const aclTensor *input, const aclIntArray *normalizedShape,               \
            const aclTensor *mean, const aclTensor *rstd, const aclTensor *weightOptional,                      \
            const aclTensor *biasOptional, const aclBoolArray *outputMask, aclTensor *gradInputOut,             \
            aclTensor *gradWeightOut, aclTensor *gradBiasOut),                                                   \
           (gradOut, input, normalizedShape, mean, rstd, weightOptional, biasOptional, outputMask, gradInputOut, \
            gradWeightOut, gradBiasOut))                                                                        \
    ACL_OP(X, aclnnGeluV2, (const aclTensor *x, int64_t approximate, aclTensor *y), (x, approximate, y))        \
    ACL_OP(X, aclnnGeluBackwardV2,                                                                              \
           (const aclTensor *gradOutput, const aclTensor *self, char *approximate, aclTensor *gradInput),       \
           (gradOutput, self, approximate, gradInput))                                                          \
    ACL_OP(X, aclnnSoftmax, (const aclTensor *self, int64_t dim, aclTensor *out), (self, dim, out))             \
    ACL_OP(X, aclnnSoftmaxBackward,                                                                             \
           (const aclTensor *gradOutput, const aclTensor *output, int64_t dim, aclTensor *out),                 \
           (gradOutput, output, dim, out))                                                                      \
    ACL_OP(X, aclnnLogSoftmax, (const aclTensor *self, int64_t dim, aclTensor *out), (self, dim, out))          \
    ACL_OP(X, aclnnNLLLoss,                                                                                     \
           (const aclTensor *self, const aclTensor *target, const aclTensor *weight, int64_t reduction,         \
            int64_t ignoreIndex, aclTensor *out, aclTensor *totalWeightOut),                                     \
           (self, target, weight, reduction, ignoreIndex, out, totalWeightOut))                                 \
    ACL_OP(X, aclnnEmbedding, (const aclTensor *weight, const aclTensor *indices, const aclTensor *out),        \
           (weight, indices, out))                                                                              \
    ACL_OP(X, aclnnEmbeddingDenseBackward,                                                                      \
           (const aclTensor *grad, const aclTensor *indices, uint64_t numWeights, uint64_t paddingIdx,          \
            bool scaleGradByFreq, const aclTensor *out),                                                         \
           (grad, indices, numWeights, paddingIdx, scaleGradByFreq, out))                                       \
    ACL_OP(X, aclnnApplyAdamWV2,                                                                                \
           (aclTensor *varRef, aclTensor *mRef, aclTensor *vRef, aclTensor *maxGradNormOptionalRef,             \
            const aclTensor *grad, const aclTensor *step, float lr, float beta1, float beta2, float weightDecay, \
            float eps, bool amsgrad, bool maximize),                                                             \
           (varRef, mRef, vRef, maxGradNormOptionalRef, grad, step, lr, beta1, beta2, weightDecay, eps, amsgrad, \
            maximize))

#define ACL_DECLARE(lib, ret, name, params, args) ret name params;
ACL_FUNCS(ACL_DECLARE)
#undef ACL_DECLARE

#endif
