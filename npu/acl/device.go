//go:build ascend && cgo

package acl

/*
#include "acl.h"
*/
import "C"

import (
	"fmt"
	"runtime"
	"strings"
	"sync"
	"unsafe"

	"bloom/npu"
)

func init() {
	npu.Register("acl", func(o npu.Options) (npu.Device, error) { return Open(o.Index) })
}

// Device is one Ascend NPU. Its methods may be called from several
// goroutines; they run one at a time on the device's own OS thread, which
// makes every ACL call. Close releases the NPU.
type Device struct {
	index int
	soc   string
	is910 bool // the original Ascend 910: fp16 cube, no bf16, no ApplyAdamWV2

	calls     chan func()
	stop      chan struct{} // closed by Close
	done      chan struct{} // closed when the thread has exited
	closeOnce sync.Once
	closeErr  error

	// Owned by the device thread.
	ctx    C.aclrtContext
	stream C.aclrtStream
	pool   pool
	failed *Error // the first ACL error: every later call panics with it
	ovf    *alloc // 64 bytes for the overflow status (FloatOverflow), made at the first

	garbageMu sync.Mutex
	garbage   []unsafe.Pointer // allocations no Buf reaches; freed after the next synchronisation
}

var _ npu.Device = (*Device)(nil)

// Open starts NPU index: it loads CANN if this process has not, binds a
// thread to the device, creates a context in deterministic mode and a
// stream, and reads the SoC.
func Open(index int) (*Device, error) {
	n, err := DeviceCount()
	if err != nil {
		return nil, err
	}
	if index < 0 || index >= n {
		return nil, fmt.Errorf("acl: no NPU %d: the runtime sees %d (indices 0 to %d)", index, n, n-1)
	}
	d := &Device{index: index, calls: make(chan func()), stop: make(chan struct{}), done: make(chan struct{})}
	d.pool.dev = d
	go d.loop()
	if err := d.try(d.start); err != nil {
		d.Close()
		return nil, err
	}
	return d, nil
}

// loop is the device thread: it runs submitted calls until Close. It never
// unlocks its OS thread, so the thread, with the ACL state bound to it,
// ends with the goroutine.
func (d *Device) loop() {
	runtime.LockOSThread()
	defer close(d.done)
	for {
		select {
		case f := <-d.calls:
			f()
		case <-d.stop:
			return
		}
	}
}

// try runs f on the device thread and returns what it panicked with as an
// error.
func (d *Device) try(f func()) error { return d.tryExec(f, true) }

// tryExec is try with exec's sticky.
func (d *Device) tryExec(f func(), sticky bool) (err error) {
	defer func() {
		if p := recover(); p != nil {
			if e, ok := p.(error); ok {
				err = e
				return
			}
			err = fmt.Errorf("acl: %v", p)
		}
	}()
	d.exec(f, sticky)
	return nil
}

// do runs f on the device thread and waits for it; a panic in f is
// re-raised in the caller. An *Error is remembered: the device is not
// trusted after one, and later calls panic with it.
func (d *Device) do(f func()) { d.exec(f, true) }

// exec is do; sticky false runs f even after an *Error (Close does).
func (d *Device) exec(f func(), sticky bool) {
	res := make(chan any, 1)
	call := func() {
		defer func() {
			p := recover()
			if e, ok := p.(*Error); ok && d.failed == nil {
				d.failed = e
			}
			res <- p
		}()
		if sticky && d.failed != nil {
			panic(d.failed)
		}
		f()
	}
	select {
	case d.calls <- call:
	case <-d.done:
		panic(fmt.Sprintf("acl: device %d is closed", d.index))
	}
	if p := <-res; p != nil {
		panic(p)
	}
}

// start binds the thread to the NPU.
func (d *Device) start() {
	const op = "open"
	d.check(op, "aclrtSetDevice", C.aclrtSetDevice(C.int32_t(d.index)))
	d.check(op, "aclrtCreateContext", C.aclrtCreateContext(&d.ctx, C.int32_t(d.index)))
	d.check(op, "aclrtSetCurrentContext", C.aclrtSetCurrentContext(d.ctx))
	d.check(op, "aclrtCtxSetSysParamOpt", C.aclrtCtxSetSysParamOpt(C.ACL_OPT_DETERMINISTIC, 1))
	d.check(op, "aclrtCreateStream", C.aclrtCreateStream(&d.stream))
	name := C.aclrtGetSocName()
	if name == nil {
		panic(&Error{Device: d.index, Op: op, Call: "aclrtGetSocName", Code: -1, Msg: recentMsg()})
	}
	d.soc = C.GoString(name)
	is910, ok := classify(d.soc)
	if !ok {
		panic(fmt.Errorf("acl: NPU %d is a %s; this backend drives Ascend 910 and 910B (Atlas A2, A3)", d.index, d.soc))
	}
	d.is910 = is910
}

// classify tells the original Ascend 910 (Ascend910A, Ascend910B,
// Ascend910ProA, Ascend910ProB, Ascend910PremiumA: fp16 cube) from the
// 910B family (Ascend910B1…B4, Ascend910_93xx: A2, A3); ok is false for
// other SoCs.
func classify(soc string) (is910, ok bool) {
	rest, found := strings.CutPrefix(soc, "Ascend910")
	if !found {
		return false, false
	}
	switch {
	case rest == "" || rest == "A" || rest == "B" || strings.HasPrefix(rest, "Pro") || strings.HasPrefix(rest, "Premium"):
		return true, true
	default:
		return false, true
	}
}

// Close waits for the queued work, frees the device's memory, and
// releases the NPU; the Device must not be used after. After a device
// error (which the failed call reported) Close releases what it can and
// returns nil. A second Close returns the first's result.
func (d *Device) Close() error {
	d.closeOnce.Do(func() {
		d.closeErr = d.tryExec(d.shutdown, false)
		close(d.stop)
		<-d.done
	})
	return d.closeErr
}

// shutdown runs on the device thread: whatever start created is destroyed
// even after an error.
func (d *Device) shutdown() {
	const op = "Close"
	var first *Error
	note := func(call string, rc C.aclError) {
		// After a failure the calls may repeat its error, which was reported.
		if rc != C.ACL_SUCCESS && first == nil && d.failed == nil {
			first = d.error(op, call, int(rc))
		}
	}
	if d.stream != nil {
		note("aclrtSynchronizeStream", C.aclrtSynchronizeStream(d.stream))
		d.pool.released()
		d.pool.drop()
		d.freeGarbage()
		note("aclrtDestroyStream", C.aclrtDestroyStream(d.stream))
		d.stream = nil
	}
	if d.ctx != nil {
		note("aclrtDestroyContext", C.aclrtDestroyContext(d.ctx))
		d.ctx = nil
	}
	note("aclrtResetDevice", C.aclrtResetDevice(C.int32_t(d.index)))
	if first != nil {
		panic(first)
	}
}

// Name returns "acl".
func (d *Device) Name() string { return "acl" }

// Threads returns 1: the host thread that drives the NPU.
func (d *Device) Threads() int { return 1 }

// SoC returns the chip's name as aclrtGetSocName gives it.
func (d *Device) SoC() string { return d.soc }

// Index returns the NPU's index.
func (d *Device) Index() int { return d.index }

// MemInfo returns the device memory (HBM) free and in all, in bytes.
func (d *Device) MemInfo() (free, total uint64, err error) {
	err = d.try(func() {
		var f, t C.size_t
		d.check("MemInfo", "aclrtGetMemInfo", C.aclrtGetMemInfo(C.ACL_HBM_MEM, &f, &t))
		free, total = uint64(f), uint64(t)
	})
	return free, total, err
}

// error builds the *Error of a failed call.
func (d *Device) error(op, call string, code int) *Error {
	return &Error{Device: d.index, Op: op, Call: call, Code: code, Msg: recentMsg()}
}

// check panics with an *Error unless rc is success.
func (d *Device) check(op, call string, rc C.aclError) {
	if rc != C.ACL_SUCCESS {
		panic(d.error(op, call, int(rc)))
	}
}

// sync waits for the stream, then returns the temporaries queued work used
// to the pool and frees what the garbage collector gave up.
func (d *Device) sync(op string) {
	d.check(op, "aclrtSynchronizeStream", C.aclrtSynchronizeStream(d.stream))
	d.pool.released()
	d.freeGarbage()
}

// collect is the cleanup of an allocation no Buf reaches any more. It runs
// on the garbage collector's goroutine: the memory is freed by the device
// thread after its next synchronisation, since queued work may still use it.
func (d *Device) collect(p unsafe.Pointer) {
	d.garbageMu.Lock()
	d.garbage = append(d.garbage, p)
	d.garbageMu.Unlock()
}

// freeGarbage frees the collected allocations; the stream must be idle.
func (d *Device) freeGarbage() {
	d.garbageMu.Lock()
	g := d.garbage
	d.garbage = nil
	d.garbageMu.Unlock()
	for _, p := range g {
		d.check("free", "aclrtFree", C.aclrtFree(p))
	}
}
