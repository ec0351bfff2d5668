//go:build !amd64 || purego

package cpu

// The vector GELU kernels exist only on amd64; hasVec stays false elsewhere.

func geluForwardAVX2(y, x *float32, n int) {
	panic("cpu: no vector GELU on this architecture")
}

func geluBackwardAVX2(dx, x, dy *float32, n int) {
	panic("cpu: no vector GELU on this architecture")
}
