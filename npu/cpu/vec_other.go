//go:build !amd64 || purego

package cpu

func addAVX2(y, x *float32, n int) { panic("cpu: no vector add on this architecture") }
