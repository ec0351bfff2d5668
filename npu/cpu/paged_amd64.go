//go:build !purego

package cpu

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
