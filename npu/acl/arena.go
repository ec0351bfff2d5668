//go:build ascend && cgo

package acl

/*
#include <stdlib.h>
#include "loader.h"
*/
import "C"

import (
	"fmt"
	"unsafe"

	"bloom/npu"
)

// arena is what one kernel creates on the device thread: tensors, scalars
// and arrays (destroyed when the kernel has queued its operators, as
// aclnn's executors hold what they need), C memory for their values, and
// temporaries from the pool (busy until the next synchronisation).
type arena struct {
	d    *Device
	op   string
	done []func()
}

// kernel runs f on the device thread with an arena for op, and releases
// the arena's objects after f.
func (d *Device) kernel(op string, f func(a *arena)) {
	d.do(func() {
		a := &arena{d: d, op: op}
		defer a.release()
		f(a)
	})
}

func (a *arena) release() {
	for i := len(a.done) - 1; i >= 0; i-- {
		a.done[i]()
	}
	a.done = nil
}

// check panics with an *Error unless status is success.
func (a *arena) check(call string, status C.int) {
	if status != 0 {
		panic(a.d.error(a.op, call, int(status)))
	}
}

// first is the first phase of an aclnn operator, its arguments bound:
// it fills the workspace size and the executor.
type first func(ws *C.uint64_t, ex **C.aclOpExecutor) C.aclnnStatus

// run runs operator name: its first phase, a workspace from the pool, and
// its second phase, queued on the stream.
func (a *arena) run(name string, f first) {
	var ws C.uint64_t
	var ex *C.aclOpExecutor
	a.check(name+"GetWorkspaceSize", C.int(f(&ws, &ex)))
	var w unsafe.Pointer
	if ws > 0 {
		w = a.d.pool.take(a.op, int(ws)).ptr
	}
	a.check(name, C.int(C.bl_launch(launcher(name), w, ws, ex, a.d.stream)))
}

// dtype is a tensor's element type: ACL's code and its size in bytes.
type dtype struct {
	code C.aclDataType
	size int
}

var (
	tF32  = dtype{C.ACL_FLOAT, 4}
	tF16  = dtype{C.ACL_FLOAT16, 2}
	tBF16 = dtype{C.ACL_BF16, 2}
	tI32  = dtype{C.ACL_INT32, 4}
	tI64  = dtype{C.ACL_INT64, 8}
	tBool = dtype{C.ACL_BOOL, 1}
)

// halfType is the tensor type of a half buffer.
func halfType(t npu.DType) dtype {
	if t == npu.BF16 {
		return tBF16
	}
	return tF16
}

// contiguous returns the row-major strides of shape.
func contiguous(shape []int) []int {
	st := make([]int, len(shape))
	s := 1
	for i := len(shape) - 1; i >= 0; i-- {
		st[i] = s
		s *= shape[i]
	}
	return st
}

// tensor describes the view of al of type t with shape and strides (in
// elements) from element off: tensorData is the allocation's base, the
// offset is the view's, and the storage is the whole allocation, as
// torch_npu describes its tensors. The view must lie inside the storage.
func (a *arena) tensor(al *alloc, t dtype, off int, shape, strides []int) *C.aclTensor {
	storage := al.bytes / t.size
	end := off
	for i, n := range shape {
		if n == 0 {
			panic(fmt.Sprintf("acl: %s: an empty tensor reached an operator", a.op))
		}
		end += (n - 1) * strides[i]
	}
	if off < 0 || end >= storage {
		panic(fmt.Sprintf("acl: %s: a view of %v strides %v from %d does not fit its %d values", a.op, shape, strides, off, storage))
	}
	dims, st := int64s(shape), int64s(strides)
	sd := C.int64_t(storage)
	x := C.aclCreateTensor(&dims[0], C.uint64_t(len(dims)), t.code, &st[0], C.int64_t(off), C.ACL_FORMAT_ND, &sd, 1, al.ptr)
	if x == nil {
		panic(a.d.error(a.op, "aclCreateTensor", -1))
	}
	a.done = append(a.done, func() { C.aclDestroyTensor(x) })
	return x
}

func int64s(x []int) []C.int64_t {
	y := make([]C.int64_t, len(x))
	for i, v := range x {
		y[i] = C.int64_t(v)
	}
	return y
}

// t is a float32 buffer as a contiguous tensor of shape (whose product
// must not exceed its length).
func (a *arena) t(b Buf, shape ...int) *C.aclTensor {
	return a.ts(b, 0, shape, contiguous(shape))
}

// ts is a strided float32 view of b from b's element off.
func (a *arena) ts(b Buf, off int, shape, strides []int) *C.aclTensor {
	a.fits(b.n, off, shape, strides)
	return a.tensor(b.a, tF32, b.off+off, shape, strides)
}

// th is a half buffer as a contiguous tensor of shape.
func (a *arena) th(b HalfBuf, shape ...int) *C.aclTensor {
	st := contiguous(shape)
	a.fits(b.n, 0, shape, st)
	return a.tensor(b.a, halfType(b.t), b.off, shape, st)
}

// fits panics unless the view lies inside a buffer of n values.
func (a *arena) fits(n, off int, shape, strides []int) {
	end := off
	for i, s := range shape {
		end += (s - 1) * strides[i]
	}
	if off < 0 || end >= n {
		panic(fmt.Sprintf("acl: %s: a view of %v strides %v from %d does not fit a buffer of %d values", a.op, shape, strides, off, n))
	}
}

// tmp returns n float32 values of scratch memory from the pool (not
// zeroed).
func (a *arena) tmp(n int) Buf {
	return Buf{a.d.pool.take(a.op, 4*n), 0, n}
}

// upload copies host values of type t into scratch memory and returns it
// as a contiguous tensor of shape. The memory is fresh: no queued operator
// uses it, so the synchronous copy needs no wait for the stream.
func (a *arena) upload(t dtype, p unsafe.Pointer, shape ...int) *C.aclTensor {
	n := 1
	for _, s := range shape {
		n *= s
	}
	al := a.d.pool.take(a.op, n*t.size)
	a.d.check(a.op, "aclrtMemcpy", C.aclrtMemcpy(al.ptr, C.size_t(al.bytes), p, C.size_t(n*t.size), C.ACL_MEMCPY_HOST_TO_DEVICE))
	return a.tensor(al, t, 0, shape, contiguous(shape))
}

// ints uploads int32 values.
func (a *arena) ints(x []int32, shape ...int) *C.aclTensor {
	return a.upload(tI32, unsafe.Pointer(&x[0]), shape...)
}

// int64s uploads int64 values.
func (a *arena) int64s(x []int64, shape ...int) *C.aclTensor {
	return a.upload(tI64, unsafe.Pointer(&x[0]), shape...)
}

// floats uploads float32 values.
func (a *arena) floats(x []float32, shape ...int) *C.aclTensor {
	return a.upload(tF32, unsafe.Pointer(&x[0]), shape...)
}

// bools uploads a mask.
func (a *arena) bools(x []bool, shape ...int) *C.aclTensor {
	return a.upload(tBool, unsafe.Pointer(&x[0]), shape...)
}

// scalar returns a float32 aclScalar of v. Its value lives in C memory
// until the arena is released.
func (a *arena) scalar(v float32) *C.aclScalar {
	p := C.malloc(4)
	*(*float32)(p) = v
	s := C.aclCreateScalar(p, C.ACL_FLOAT)
	if s == nil {
		C.free(p)
		panic(a.d.error(a.op, "aclCreateScalar", -1))
	}
	a.done = append(a.done, func() { C.aclDestroyScalar(s); C.free(p) })
	return s
}

// intArray returns an aclIntArray of v.
func (a *arena) intArray(v ...int) *C.aclIntArray {
	x := int64s(v)
	r := C.aclCreateIntArray(&x[0], C.uint64_t(len(x)))
	if r == nil {
		panic(a.d.error(a.op, "aclCreateIntArray", -1))
	}
	a.done = append(a.done, func() { C.aclDestroyIntArray(r) })
	return r
}

// boolArray returns an aclBoolArray of v.
func (a *arena) boolArray(v ...bool) *C.aclBoolArray {
	x := make([]C.bool, len(v))
	for i, b := range v {
		x[i] = C.bool(b)
	}
	r := C.aclCreateBoolArray(&x[0], C.uint64_t(len(x)))
	if r == nil {
		panic(a.d.error(a.op, "aclCreateBoolArray", -1))
	}
	a.done = append(a.done, func() { C.aclDestroyBoolArray(r) })
	return r
}

// cstring returns C memory holding s until the arena is released.
func (a *arena) cstring(s string) *C.char {
	p := C.CString(s)
	a.done = append(a.done, func() { C.free(unsafe.Pointer(p)) })
	return p
}
