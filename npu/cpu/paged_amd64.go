//go:build !purego

package cpu

import (
	"bloom/internal/cpuid"
	"bloom/npu"
)

func init() {
	if !hasAVX2FMA() { // the row kernels' condition (hasVec)
		return
	}
	halfRows[npu.BF16] = halfRowKernels{dotRowsBF16, axpyRowsBF16}
	if cpuid.X86.F16C {
		halfRows[npu.F16] = halfRowKernels{dotRowsF16, axpyRowsF16}
	}
}

// dotRowsAVX2 is dotRows for n rows of hd values, hd a multiple of 8.
//
//go:noescape
func dotRowsAVX2(y, x, q *float32, n, hd int, scale float32)

// axpyRowsAVX2 is axpyRows for n rows of hd values, hd a multiple of 8.
//
//go:noescape
func axpyRowsAVX2(y, x, p *float32, n, hd int)

// prefetchLines asks for the cache lines of the n (> 0) floats at x.
//
//go:noescape
func prefetchLines(x *float32, n int)

// dotRowsF16 and dotRowsBF16 are dotRowsAVX2 over rows of half values of
// one type, widened as they are read (the same bits as over the widened
// rows); axpyRowsF16 and axpyRowsBF16 are axpyRowsAVX2's likewise.
//
//go:noescape
func dotRowsF16(y *float32, x *uint16, q *float32, n, hd int, scale float32)

//go:noescape
func dotRowsBF16(y *float32, x *uint16, q *float32, n, hd int, scale float32)

//go:noescape
func axpyRowsF16(y *float32, x *uint16, p *float32, n, hd int)

//go:noescape
func axpyRowsBF16(y *float32, x *uint16, p *float32, n, hd int)
