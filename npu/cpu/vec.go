package cpu

import "math"

// The loops below keep four partial sums so that consecutive additions do
// not wait on each other. The order of the additions is fixed by the length
// alone, so results are the same on every call.

// negInf is −∞ as a float32.
var negInf = float32(math.Inf(-1))

// grain is the least work, in values touched, worth handing to a goroutine.
const grain = 1 << 14

// rowGrain is the least number of rows of cols values worth a goroutine.
func rowGrain(cols int) int { return max(1, grain/max(cols, 1)) }

// dot returns Σ a[i]·b[i] over len(a) values.
func dot(a, b []float32) float32 {
	b = b[:len(a)]
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+4 <= len(a); i += 4 {
		s0 += a[i] * b[i]
		s1 += a[i+1] * b[i+1]
		s2 += a[i+2] * b[i+2]
		s3 += a[i+3] * b[i+3]
	}
	for ; i < len(a); i++ {
		s0 += a[i] * b[i]
	}
	return (s0 + s1) + (s2 + s3)
}

// sum returns Σ x[i].
func sum(x []float32) float32 {
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+4 <= len(x); i += 4 {
		s0 += x[i]
		s1 += x[i+1]
		s2 += x[i+2]
		s3 += x[i+3]
	}
	for ; i < len(x); i++ {
		s0 += x[i]
	}
	return (s0 + s1) + (s2 + s3)
}

// sumSqDev returns Σ (x[i]−m)².
func sumSqDev(x []float32, m float32) float32 {
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+4 <= len(x); i += 4 {
		d0, d1, d2, d3 := x[i]-m, x[i+1]-m, x[i+2]-m, x[i+3]-m
		s0 += d0 * d0
		s1 += d1 * d1
		s2 += d2 * d2
		s3 += d3 * d3
	}
	for ; i < len(x); i++ {
		d := x[i] - m
		s0 += d * d
	}
	return (s0 + s1) + (s2 + s3)
}

// sumSq64 returns Σ x[i]² accumulated in float64 (each square is exact).
func sumSq64(x []float32) float64 {
	var s0, s1, s2, s3 float64
	i := 0
	for ; i+4 <= len(x); i += 4 {
		a, b, c, d := float64(x[i]), float64(x[i+1]), float64(x[i+2]), float64(x[i+3])
		s0 += a * a
		s1 += b * b
		s2 += c * c
		s3 += d * d
	}
	for ; i < len(x); i++ {
		a := float64(x[i])
		s0 += a * a
	}
	return (s0 + s1) + (s2 + s3)
}

// maxOf returns the largest of x (−Inf for none).
func maxOf(x []float32) float32 {
	m := negInf
	for _, v := range x {
		if v > m {
			m = v
		}
	}
	return m
}

// axpy sets y[i] += a·x[i] over len(y) values.
func axpy(y []float32, a float32, x []float32) {
	x = x[:len(y)]
	for i := range y {
		y[i] += a * x[i]
	}
}

// add sets y[i] += x[i] over len(y) values (8 at a time with AVX2: each
// sum rounds once either way).
func add(y, x []float32) {
	x = x[:len(y)]
	if n8 := len(y) &^ 7; hasVec && n8 > 0 {
		addAVX2(&y[0], &x[0], n8)
		y, x = y[n8:], x[n8:]
	}
	for i := range y {
		y[i] += x[i]
	}
}
