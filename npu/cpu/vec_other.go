//go:build !amd64 || purego

package cpu

func addAVX2(y, x *float32, n int) { panic("cpu: no vector add on this architecture") }

func alibiMaxAVX2(pr, pos *float32, n int, slope float32) (float32, bool) {
	panic("cpu: no vector ALiBi on this architecture")
}

func scaleF64AVX2(x *float32, n int, s float64) { panic("cpu: no vector scale on this architecture") }
