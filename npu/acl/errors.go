package acl

import (
	"errors"
	"fmt"
	"os"
)

var (
	// ErrDevice matches (errors.Is) every *Error: a failed ACL or aclnn
	// call, after which the device cannot be trusted.
	ErrDevice = errors.New("acl: device error")
	// ErrOOM matches an *Error whose call ran out of device memory.
	ErrOOM = errors.New("acl: out of device memory")
	// ErrNoBF16 is the panic of a bf16 allocation or product on a device
	// that has none (Ascend 910).
	ErrNoBF16 = errors.New("acl: Ascend 910 has no bf16: train with --fp16")
	// ErrNotBuilt is what opening "acl" returns in a build without the
	// backend.
	ErrNotBuilt = errors.New("acl: this bloom was built without the Ascend backend: build it with make build-acl (CGO_ENABLED=1, -tags ascend)")
)

// Error is a failed call into CANN: the value a Device panics with, and
// what Open returns when the runtime refuses to start.
type Error struct {
	Device int    // the device's index, or -1 before there is one
	Op     string // the npu.Device method, or "open"
	Call   string // the C function that failed, e.g. "aclnnAddGetWorkspaceSize"
	Code   int    // its aclError or aclnnStatus
	Msg    string // aclGetRecentErrMsg's text, if any
}

// Codes that mean device memory ran out (acl_base.h, rt_error_codes.h).
const (
	codeBadAlloc   = 200000 // ACL_ERROR_BAD_ALLOC
	codeRTMemAlloc = 207001 // ACL_ERROR_RT_MEMORY_ALLOCATION
	codeRTOOM      = 207018 // ACL_ERROR_RT_DEVICE_OOM
)

// aclnn codes that mean CANN's operator package is missing or not where
// the runtime looks (aclnn_return_code.md): an installation problem, which
// the error says how to mend.
const (
	codeFindKernel  = 561003 // ACLNN_ERR_INNER_FIND_KERNEL_ERROR: the op's binary is not installed
	codeOppNotFound = 561107 // ACLNN_ERR_INNER_OPP_PATH_NOT_FOUND
)

func (e *Error) Error() string {
	s := fmt.Sprintf("acl: %s: %s returned %d", e.Op, e.Call, e.Code)
	if e.Device >= 0 {
		s = fmt.Sprintf("acl: device %d: %s: %s returned %d", e.Device, e.Op, e.Call, e.Code)
	}
	if e.OOM() {
		s += " (out of device memory)"
	}
	if e.Msg != "" {
		s += ": " + e.Msg
	}
	switch e.Code {
	case codeFindKernel, codeOppNotFound:
		s += fmt.Sprintf(" (CANN's operator package: ASCEND_OPP_PATH=%s; source CANN's set_env.sh, and install the kernels package for this chip)",
			envOrUnset("ASCEND_OPP_PATH"))
	}
	return s
}

// OOM reports whether the call ran out of device memory.
func (e *Error) OOM() bool {
	switch e.Code {
	case codeBadAlloc, codeRTMemAlloc, codeRTOOM:
		return true
	}
	return false
}

// Is makes errors.Is(err, ErrDevice) true for every *Error and
// errors.Is(err, ErrOOM) true for those that ran out of memory.
func (e *Error) Is(target error) bool {
	return target == ErrDevice || target == ErrOOM && e.OOM()
}

// envOrUnset is the environment variable's value, or "unset".
func envOrUnset(name string) string {
	if v, ok := os.LookupEnv(name); ok {
		return v
	}
	return "unset"
}
