//go:build !purego

package cpu

// addAVX2 is add's loop over n values, n a multiple of 8.
//
//go:noescape
func addAVX2(y, x *float32, n int)
