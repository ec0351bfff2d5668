//go:build ascend && cgo

package acl

/*
#include "acl.h"
*/
import "C"

import (
	"unsafe"

	"bloom/npu"
)

// Alloc returns n zeroed values.
func (d *Device) Alloc(n int) npu.Buf {
	dims("Alloc", n)
	var b Buf
	d.do(func() { b = Buf{d.malloc("Alloc", 4*n), 0, n} })
	return b
}

// at returns the device address of element off of al, of size bytes each,
// and how many bytes of the allocation follow it.
func at(al *alloc, off, size int) (unsafe.Pointer, C.size_t) {
	return unsafe.Add(al.ptr, off*size), C.size_t(al.bytes - off*size)
}

// Write copies min(len(src), dst.Len()) values from host memory into dst
// and keeps neither. It waits for the stream first: queued kernels may
// still read or write dst.
func (d *Device) Write(dst npu.Buf, src []float32) {
	x := d.f32("Write", "dst", dst, 0)
	n := min(len(src), x.n)
	if n == 0 {
		return
	}
	d.do(func() {
		d.sync("Write")
		p, room := at(x.a, x.off, 4)
		d.check("Write", "aclrtMemcpy", C.aclrtMemcpy(p, room, unsafe.Pointer(&src[0]), C.size_t(4*n), C.ACL_MEMCPY_HOST_TO_DEVICE))
	})
}

// Read copies min(len(dst), src.Len()) values of src into host memory and
// keeps neither, after the queued kernels have run.
func (d *Device) Read(dst []float32, src npu.Buf) {
	x := d.f32("Read", "src", src, 0)
	n := min(len(dst), x.n)
	if n == 0 {
		return
	}
	d.do(func() {
		d.sync("Read")
		p, _ := at(x.a, x.off, 4)
		d.check("Read", "aclrtMemcpy", C.aclrtMemcpy(unsafe.Pointer(&dst[0]), C.size_t(4*n), p, C.size_t(4*n), C.ACL_MEMCPY_DEVICE_TO_HOST))
	})
}

// Copy copies min(dst.Len(), src.Len()) values; overlapping views go
// through scratch memory.
func (d *Device) Copy(dst, src npu.Buf) {
	x, y := d.f32("Copy", "dst", dst, 0), d.f32("Copy", "src", src, 0)
	n := min(x.n, y.n)
	if n == 0 {
		return
	}
	d.kernel("Copy", func(a *arena) {
		if x.a == y.a && x.off < y.off+n && y.off < x.off+n {
			if x.off == y.off {
				return
			}
			t := a.tmp(n)
			a.copy(a.t(t, n), a.t(y, n))
			y = t
		}
		a.copy(a.t(x, n), a.t(y, n))
	})
}

// Fill sets every value of dst to v (−0 included).
func (d *Device) Fill(dst npu.Buf, v float32) {
	x := d.f32("Fill", "dst", dst, 0)
	if x.n == 0 {
		return
	}
	d.kernel("Fill", func(a *arena) { a.fill(a.t(x, x.n), v) })
}

// AllocHost returns n zeroed float32s of page-locked host memory
// (aclrtMallocHost), which the device copies to and from without staging;
// see npu.HostMemory. FreeHost gives it back.
func (d *Device) AllocHost(n int) []float32 {
	dims("AllocHost", n)
	if n == 0 {
		return nil
	}
	var p unsafe.Pointer
	d.do(func() { d.check("AllocHost", "aclrtMallocHost", C.aclrtMallocHost(&p, C.size_t(4*n))) })
	h := unsafe.Slice((*float32)(p), n)
	clear(h)
	return h
}

// FreeHost frees memory AllocHost returned.
func (d *Device) FreeHost(h []float32) {
	if len(h) == 0 {
		return
	}
	p := unsafe.Pointer(&h[0])
	d.do(func() { d.check("FreeHost", "aclrtFreeHost", C.aclrtFreeHost(p)) })
}
