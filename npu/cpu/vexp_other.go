//go:build !amd64 || purego

package cpu

// expSumAVX2 exists only on amd64; hasVec stays false elsewhere.
func expSumAVX2(y, x *float32, n int, m float32) float64 {
	panic("cpu: no vector exp on this architecture")
}
