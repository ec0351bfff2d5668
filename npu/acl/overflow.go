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

var _ npu.OverflowFlagger = (*Device)(nil)

// Saturates implements npu.OverflowFlagger: the original 910 computes in
// CANN's saturation mode, the only one its training products have (an fp16
// result beyond range becomes ±65504, NaN becomes 0); the 910B family
// produces Inf and NaN.
func (d *Device) Saturates() bool { return d.is910 }

// FloatOverflow implements npu.OverflowFlagger: on a 910 it reads the
// device's overflow status (aclrtGetOverflowStatus: 64 bytes, non-zero
// after a saturated operation) once the queued work is done, and resets it
// (aclrtResetOverflowStatus); elsewhere it reports false.
func (d *Device) FloatOverflow() bool {
	if !d.is910 {
		return false
	}
	const op, size = "FloatOverflow", 64
	var status [size]byte
	d.do(func() {
		if d.ovf == nil {
			d.ovf = d.malloc(op, size)
		}
		d.check(op, "aclrtGetOverflowStatus", C.aclrtGetOverflowStatus(d.ovf.ptr, size, d.stream))
		d.check(op, "aclrtResetOverflowStatus", C.aclrtResetOverflowStatus(d.stream))
		d.sync(op)
		d.check(op, "aclrtMemcpy", C.aclrtMemcpy(unsafe.Pointer(&status[0]), size, d.ovf.ptr, size, C.ACL_MEMCPY_DEVICE_TO_HOST))
	})
	for _, b := range status {
		if b != 0 {
			return true
		}
	}
	return false
}
