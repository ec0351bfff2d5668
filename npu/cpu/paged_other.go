//go:build !amd64 || purego

package cpu

// The AVX2 row kernels exist only on amd64; hasVec stays false elsewhere.

func dotRowsAVX2(y, x, q *float32, n, hd int, scale float32) {
	panic("cpu: no vector row kernels on this architecture")
}

func axpyRowsAVX2(y, x, p *float32, n, hd int) {
	panic("cpu: no vector row kernels on this architecture")
}

func prefetchLines(x *float32, n int) {}
