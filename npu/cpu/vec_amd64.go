//go:build !purego

package cpu

// addAVX2 is add's loop over n values, n a multiple of 8.
//
//go:noescape
func addAVX2(y, x *float32, n int)

// alibiMaxAVX2 is the ALiBi sum and maximum of softmaxScores over n
// values, n a multiple of 8; nan reports a NaN among them.
//
//go:noescape
func alibiMaxAVX2(pr, pos *float32, n int, slope float32) (m float32, nan bool)

// scaleF64AVX2 is softmaxScores' normalization over n values, n a
// multiple of 8.
//
//go:noescape
func scaleF64AVX2(x *float32, n int, s float64)
