//go:build ascend && cgo

package acl

/*
#include "acl.h"
*/
import "C"

// The aclnn operators the kernels are built from, one wrapper each.

type tensor = *C.aclTensor

// cube is the cubeMathType of a float32 product: the original 910's cube
// multiplies in fp16 only and refuses KEEP_DTYPE for float32, so there the
// operands are rounded to fp16 (ALLOW_FP32_DOWN_PRECISION); 910B keeps
// float32.
func (a *arena) cube() C.int8_t {
	if a.d.is910 {
		return C.ALLOW_FP32_DOWN_PRECISION
	}
	return C.KEEP_DTYPE
}

// addmm sets self = beta·self + alpha·(m1·m2).
func (a *arena) addmm(self, m1, m2 tensor, beta, alpha float32) {
	b, al, cube := a.scalar(beta), a.scalar(alpha), a.cube()
	a.run("aclnnInplaceAddmm", func(ws *C.uint64_t, ex **C.aclOpExecutor) C.aclnnStatus {
		return C.aclnnInplaceAddmmGetWorkspaceSize(self, m1, m2, b, al, cube, ws, ex)
	})
}

// bmm sets out = x·y for batches of matrices (3-D).
func (a *arena) bmm(x, y, out tensor) {
	cube := a.cube()
	a.run("aclnnBatchMatMul", func(ws *C.uint64_t, ex **C.aclOpExecutor) C.aclnnStatus {
		return C.aclnnBatchMatMulGetWorkspaceSize(x, y, out, cube, ws, ex)
	})
}

// add sets out = x + alpha·y (broadcasting).
func (a *arena) add(x, y tensor, alpha float32, out tensor) {
	al := a.scalar(alpha)
	a.run("aclnnAdd", func(ws *C.uint64_t, ex **C.aclOpExecutor) C.aclnnStatus {
		return C.aclnnAddGetWorkspaceSize(x, y, al, out, ws, ex)
	})
}

// addTo sets self += alpha·y (broadcasting y).
func (a *arena) addTo(self, y tensor, alpha float32) {
	al := a.scalar(alpha)
	a.run("aclnnInplaceAdd", func(ws *C.uint64_t, ex **C.aclOpExecutor) C.aclnnStatus {
		return C.aclnnInplaceAddGetWorkspaceSize(self, y, al, ws, ex)
	})
}

// sub sets out = x − alpha·y (broadcasting).
func (a *arena) sub(x, y tensor, alpha float32, out tensor) {
	al := a.scalar(alpha)
	a.run("aclnnSub", func(ws *C.uint64_t, ex **C.aclOpExecutor) C.aclnnStatus {
		return C.aclnnSubGetWorkspaceSize(x, y, al, out, ws, ex)
	})
}

// mul sets out = x⊙y (broadcasting).
func (a *arena) mul(x, y, out tensor) {
	a.run("aclnnMul", func(ws *C.uint64_t, ex **C.aclOpExecutor) C.aclnnStatus {
		return C.aclnnMulGetWorkspaceSize(x, y, out, ws, ex)
	})
}

// div sets out = x/y (broadcasting).
func (a *arena) div(x, y, out tensor) {
	a.run("aclnnDiv", func(ws *C.uint64_t, ex **C.aclOpExecutor) C.aclnnStatus {
		return C.aclnnDivGetWorkspaceSize(x, y, out, ws, ex)
	})
}

// scale sets self *= s.
func (a *arena) scale(self tensor, s float32) {
	sc := a.scalar(s)
	a.run("aclnnInplaceMuls", func(ws *C.uint64_t, ex **C.aclOpExecutor) C.aclnnStatus {
		return C.aclnnInplaceMulsGetWorkspaceSize(self, sc, ws, ex)
	})
}

// adds sets out = x + alpha·s.
func (a *arena) adds(x tensor, s, alpha float32, out tensor) {
	sc, al := a.scalar(s), a.scalar(alpha)
	a.run("aclnnAdds", func(ws *C.uint64_t, ex **C.aclOpExecutor) C.aclnnStatus {
		return C.aclnnAddsGetWorkspaceSize(x, sc, al, out, ws, ex)
	})
}

// sqrt sets out = √x.
func (a *arena) sqrt(x, out tensor) {
	a.run("aclnnSqrt", func(ws *C.uint64_t, ex **C.aclOpExecutor) C.aclnnStatus {
		return C.aclnnSqrtGetWorkspaceSize(x, out, ws, ex)
	})
}

// exp sets out = eˣ.
func (a *arena) exp(x, out tensor) {
	a.run("aclnnExp", func(ws *C.uint64_t, ex **C.aclOpExecutor) C.aclnnStatus {
		return C.aclnnExpGetWorkspaceSize(x, out, ws, ex)
	})
}

// cast converts x to out's type t.
func (a *arena) cast(x tensor, t dtype, out tensor) {
	a.run("aclnnCast", func(ws *C.uint64_t, ex **C.aclOpExecutor) C.aclnnStatus {
		return C.aclnnCastGetWorkspaceSize(x, t.code, out, ws, ex)
	})
}

// copy sets dst = src, strided views of the same shape.
func (a *arena) copy(dst, src tensor) {
	a.run("aclnnInplaceCopy", func(ws *C.uint64_t, ex **C.aclOpExecutor) C.aclnnStatus {
		return C.aclnnInplaceCopyGetWorkspaceSize(dst, src, ws, ex)
	})
}

// fill sets every value of self to v.
func (a *arena) fill(self tensor, v float32) {
	sc := a.scalar(v)
	a.run("aclnnInplaceFillScalar", func(ws *C.uint64_t, ex **C.aclOpExecutor) C.aclnnStatus {
		return C.aclnnInplaceFillScalarGetWorkspaceSize(self, sc, ws, ex)
	})
}

// maskedFill sets self to v where mask (bool, broadcast to self) is true.
func (a *arena) maskedFill(self, mask tensor, v float32) {
	sc := a.scalar(v)
	a.run("aclnnInplaceMaskedFillScalar", func(ws *C.uint64_t, ex **C.aclOpExecutor) C.aclnnStatus {
		return C.aclnnInplaceMaskedFillScalarGetWorkspaceSize(self, mask, sc, ws, ex)
	})
}

// sum sets out to the float32 sums of x over dim.
func (a *arena) sum(x tensor, dim int, out tensor) {
	dims := a.intArray(dim)
	a.run("aclnnReduceSum", func(ws *C.uint64_t, ex **C.aclOpExecutor) C.aclnnStatus {
		return C.aclnnReduceSumGetWorkspaceSize(x, dims, false, C.ACL_FLOAT, out, ws, ex)
	})
}

// amax sets out to the maxima of x over dim.
func (a *arena) amax(x tensor, dim int, out tensor) {
	dims := a.intArray(dim)
	a.run("aclnnAmax", func(ws *C.uint64_t, ex **C.aclOpExecutor) C.aclnnStatus {
		return C.aclnnAmaxGetWorkspaceSize(x, dims, false, out, ws, ex)
	})
}

// softmax sets out to the softmax of x over its last dimension.
func (a *arena) softmax(x, out tensor) {
	a.run("aclnnSoftmax", func(ws *C.uint64_t, ex **C.aclOpExecutor) C.aclnnStatus {
		return C.aclnnSoftmaxGetWorkspaceSize(x, -1, out, ws, ex)
	})
}

// softmaxBackward sets out = y ⊙ (dy − Σ dy⊙y) over the last dimension.
func (a *arena) softmaxBackward(dy, y, out tensor) {
	a.run("aclnnSoftmaxBackward", func(ws *C.uint64_t, ex **C.aclOpExecutor) C.aclnnStatus {
		return C.aclnnSoftmaxBackwardGetWorkspaceSize(dy, y, -1, out, ws, ex)
	})
}

// logSoftmax sets out to the log-softmax of x over its last dimension.
func (a *arena) logSoftmax(x, out tensor) {
	a.run("aclnnLogSoftmax", func(ws *C.uint64_t, ex **C.aclOpExecutor) C.aclnnStatus {
		return C.aclnnLogSoftmaxGetWorkspaceSize(x, -1, out, ws, ex)
	})
}

// embedding sets out[i] = weight[ids[i]].
func (a *arena) embedding(weight, ids, out tensor) {
	a.run("aclnnEmbedding", func(ws *C.uint64_t, ex **C.aclOpExecutor) C.aclnnStatus {
		return C.aclnnEmbeddingGetWorkspaceSize(weight, ids, out, ws, ex)
	})
}

// scatterAdd sets out (rows, C) to the sums of grad's rows (N, C) by
// ids, skipping the id pad: EmbeddingDenseBackward.
func (a *arena) scatterAdd(grad, ids tensor, rows, pad int, out tensor) {
	a.run("aclnnEmbeddingDenseBackward", func(ws *C.uint64_t, ex **C.aclOpExecutor) C.aclnnStatus {
		return C.aclnnEmbeddingDenseBackwardGetWorkspaceSize(grad, ids, C.uint64_t(rows), C.uint64_t(pad), false, out, ws, ex)
	})
}

// nllLoss sets out[i] = −w[t]·logp[i, t] for t = target[i] (reduction
// none), 0 where t is the ignore index.
func (a *arena) nllLoss(logp, target, w, out, totalWeight tensor) {
	a.run("aclnnNLLLoss", func(ws *C.uint64_t, ex **C.aclOpExecutor) C.aclnnStatus {
		return C.aclnnNLLLossGetWorkspaceSize(logp, target, w, 0, -100, out, totalWeight, ws, ex)
	})
}
