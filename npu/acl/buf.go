//go:build ascend && cgo

package acl

/*
#include "acl.h"
*/
import "C"

import (
	"fmt"
	"runtime"
	"unsafe"

	"bloom/npu"
)

// alloc is one allocation of device memory: from aclrtMalloc, whose
// addresses are 32-byte aligned as aclCreateTensor's tensorData must be.
type alloc struct {
	dev   *Device
	ptr   unsafe.Pointer // nil for an empty allocation
	bytes int
}

// Buf is a view of float32 values of one allocation: n values from element
// off. A Slice shares the allocation.
type Buf struct {
	a      *alloc
	off, n int
}

// Len returns the number of values.
func (b Buf) Len() int { return b.n }

// Slice returns the view of n values from off; a range outside the buffer
// is a programmer error and panics.
func (b Buf) Slice(off, n int) npu.Buf {
	if off < 0 || n < 0 || off > b.n-n {
		panic(fmt.Sprintf("acl: Slice(%d, %d) of a buffer of %d values", off, n, b.n))
	}
	return Buf{b.a, b.off + off, n}
}

// HalfBuf is a view of 16-bit values of type t (npu.F16 or npu.BF16).
type HalfBuf struct {
	a      *alloc
	off, n int
	t      npu.DType
}

// Len returns the number of values.
func (b HalfBuf) Len() int { return b.n }

// DType returns the values' type.
func (b HalfBuf) DType() npu.DType { return b.t }

// Slice returns the view of n values from off, of the same type.
func (b HalfBuf) Slice(off, n int) npu.HalfBuf {
	if off < 0 || n < 0 || off > b.n-n {
		panic(fmt.Sprintf("acl: Slice(%d, %d) of a half buffer of %d values", off, n, b.n))
	}
	return HalfBuf{b.a, b.off + off, n, b.t}
}

// f32 returns b as this device's buffer with at least n values, or panics
// naming the kernel and argument: a buffer of another backend or device,
// or a size that does not fit it, is a programmer error.
func (d *Device) f32(op, name string, b npu.Buf, n int) Buf {
	x, ok := b.(Buf)
	if !ok {
		panic(fmt.Sprintf("acl: %s: %s is a %T, not an acl buffer; buffers of one backend cannot be used by another", op, name, b))
	}
	if x.a.dev != d {
		panic(fmt.Sprintf("acl: %s: %s belongs to NPU %d, not %d", op, name, x.a.dev.index, d.index))
	}
	if n < 0 || x.n < n {
		panic(fmt.Sprintf("acl: %s: %s has %d values, need %d", op, name, x.n, n))
	}
	return x
}

// f16 is f32 for half buffers.
func (d *Device) f16(op, name string, b npu.HalfBuf, n int) HalfBuf {
	x, ok := b.(HalfBuf)
	if !ok {
		panic(fmt.Sprintf("acl: %s: %s is a %T, not an acl half buffer", op, name, b))
	}
	if x.a.dev != d {
		panic(fmt.Sprintf("acl: %s: %s belongs to NPU %d, not %d", op, name, x.a.dev.index, d.index))
	}
	if n < 0 || x.n < n {
		panic(fmt.Sprintf("acl: %s: %s has %d values, need %d", op, name, x.n, n))
	}
	return x
}

// dims panics unless every size is non-negative.
func dims(op string, sizes ...int) {
	for _, s := range sizes {
		if s < 0 {
			panic(fmt.Sprintf("acl: %s: negative size %d", op, s))
		}
	}
}

// malloc returns bytes of device memory, zeroed by the stream, that the
// garbage collector frees when no view reaches it. On the device thread.
func (d *Device) malloc(op string, bytes int) *alloc {
	a := &alloc{dev: d, bytes: bytes}
	if bytes == 0 {
		return a
	}
	a.ptr = d.pool.raw(op, bytes)
	d.check(op, "aclrtMemsetAsync", C.aclrtMemsetAsync(a.ptr, C.size_t(bytes), 0, C.size_t(bytes), d.stream))
	runtime.AddCleanup(a, d.collect, a.ptr)
	return a
}

// pool holds device memory for workspaces and temporaries: a block handed
// out is busy until the next synchronisation, when the stream has run every
// operator that used it, and then free for reuse. Blocks are sized in
// classes (powers of two to 2 MiB, then multiples of 2 MiB) so that reuse
// finds them. Owned by the device thread.
type pool struct {
	dev  *Device
	free map[int][]unsafe.Pointer // by class
	busy []block
}

type block struct {
	ptr   unsafe.Pointer
	class int
}

// busyMax is how many busy blocks make take synchronise first, so that a
// long run of kernels without a host read cannot hoard memory.
const busyMax = 1 << 14

// class rounds bytes up to its size class.
func class(bytes int) int {
	const big = 2 << 20
	if bytes >= big {
		return (bytes + big - 1) / big * big
	}
	c := 512
	for c < bytes {
		c *= 2
	}
	return c
}

// take returns a block of at least bytes, busy until the next
// synchronisation, as an allocation (of the block's whole size).
func (p *pool) take(op string, bytes int) *alloc {
	if len(p.busy) >= busyMax {
		p.dev.sync(op)
	}
	c := class(bytes)
	var ptr unsafe.Pointer
	if l := p.free[c]; len(l) > 0 {
		ptr, p.free[c] = l[len(l)-1], l[:len(l)-1]
	} else {
		ptr = p.raw(op, c)
	}
	p.busy = append(p.busy, block{ptr, c})
	return &alloc{dev: p.dev, ptr: ptr, bytes: c}
}

// raw calls aclrtMalloc; when memory is exhausted it waits for the stream,
// gives the pool's free blocks back, and tries once more.
func (p *pool) raw(op string, bytes int) unsafe.Pointer {
	var ptr unsafe.Pointer
	rc := C.aclrtMalloc(&ptr, C.size_t(bytes), C.ACL_MEM_MALLOC_HUGE_FIRST)
	if rc != C.ACL_SUCCESS && len(p.free)+len(p.busy) > 0 {
		p.dev.sync(op)
		p.drop()
		rc = C.aclrtMalloc(&ptr, C.size_t(bytes), C.ACL_MEM_MALLOC_HUGE_FIRST)
	}
	p.dev.check(op, "aclrtMalloc", rc)
	return ptr
}

// released makes the busy blocks free; the stream must be idle.
func (p *pool) released() {
	if p.free == nil {
		p.free = map[int][]unsafe.Pointer{}
	}
	for _, b := range p.busy {
		p.free[b.class] = append(p.free[b.class], b.ptr)
	}
	p.busy = p.busy[:0]
}

// drop frees the free blocks.
func (p *pool) drop() {
	for c, l := range p.free {
		for _, ptr := range l {
			p.dev.check("free", "aclrtFree", C.aclrtFree(ptr))
		}
		delete(p.free, c)
	}
}
