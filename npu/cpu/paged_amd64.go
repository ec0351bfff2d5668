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
