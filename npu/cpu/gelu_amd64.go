//go:build !purego

package cpu

// The GELU kernels of gelu_amd64.s run where hasVec is set: they use
// expSumAVX2's exponential.

//go:noescape
func geluForwardAVX2(y, x *float32, n int)

//go:noescape
func geluBackwardAVX2(dx, x, dy *float32, n int)
