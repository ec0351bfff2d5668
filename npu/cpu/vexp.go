package cpu

import "math"

// Vectorized exponentials for softmax, cross-entropy and GELU: float32
// results within about 2 ulp (Cephes' expf), eight at a time with AVX2 on
// amd64. Sums accumulate in float64 in a fixed order, so results do not depend
// on the thread count.

// expSum sets y[i] = e^(x[i]−m) when y is not nil (y may alias x) and returns
// the sum of those values. Arguments below −87.34 give exactly 0.
func expSum(y, x []float32, m float32) float64 {
	n8, s := 0, 0.0
	if hasVec && len(x) >= 8 {
		n8 = len(x) &^ 7
		var yp *float32
		if y != nil {
			_ = y[n8-1]
			yp = &y[0]
		}
		s = expSumAVX2(yp, &x[0], n8, m)
	}
	for i := n8; i < len(x); i++ {
		e := exp32(x[i] - m)
		if y != nil {
			y[i] = e
		}
		s += float64(e)
	}
	return s
}

// hasVec reports whether the AVX2/FMA kernels for runs of 8 values run on
// this CPU: expSumAVX2, the GELU kernels built on its exponential,
// PagedAttention's row kernels and add. (A direct call, not a func
// variable, keeps callers' stack buffers on the stack.)
var hasVec bool

// exp32 is the scalar twin of the vector kernel: Cody–Waite reduction by
// ln 2 = c1 + c2 and Cephes' degree-5 polynomial.
func exp32(x float32) float32 {
	const (
		log2e = 1.44269504088896341
		c1    = 0.693359375
		c2    = -2.12194440e-4
		hi    = 88.7228391
		lo    = -87.3365448
	)
	if !(x >= lo) {
		return 0
	}
	x = min(x, hi)
	k := float32(math.RoundToEven(float64(x * log2e)))
	r := x - k*c1 - k*c2
	p := float32(1.9875691500e-4)
	p = p*r + 1.3981999507e-3
	p = p*r + 8.3334519073e-3
	p = p*r + 4.1665795894e-2
	p = p*r + 1.6666665459e-1
	p = p*r + 0.5
	e := p*r*r + r + 1
	return e * pow2(int(k))
}

// pow2 returns 2^k for −126 ≤ k ≤ 128 (+Inf at 128).
func pow2(k int) float32 {
	if k >= 128 {
		return float32(math.Inf(1))
	}
	return math.Float32frombits(uint32(k+127) << 23)
}

// expInPlace sets x[i] = e^(x[i]).
func expInPlace(x []float32) { expSum(x, x, 0) }
