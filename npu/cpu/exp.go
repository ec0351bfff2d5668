package cpu

import "math"

// The kernels round every exponential and tanh to float32, so they need
// float64 results good to about 10⁻¹¹, not the last bit of math.Exp, which
// is most of the cost of a softmax. expf is exp by Cody–Waite reduction to
// |r| ≤ ln2/2 and a degree-9 Taylor polynomial evaluated in Estrin's scheme
// (truncation error 0.347¹⁰/10! ≈ 7·10⁻¹² relative); tanhf builds on it.

const (
	ln2Hi   = 6.93147180369123816490e-01 // ln2Hi + ln2Lo = ln 2 to 80 bits
	ln2Lo   = 1.90821492927058770002e-10
	log2e   = 1.44269504088896338700e+00
	shifter = 0x1.8p52 // adding it rounds to an integer held in the low bits
	expMax  = 709.0    // above: +Inf
	expMin  = -708.0   // below: 0 (far below float32's smallest value)
)

// expf returns e^x with a relative error below 10⁻¹¹.
func expf(x float64) float64 {
	if !(x >= expMin) {
		if x != x {
			return x
		}
		return 0
	}
	if x > expMax {
		return math.Inf(1)
	}
	t := x*log2e + shifter
	k := t - shifter // round(x·log2 e)
	r := x - k*ln2Hi - k*ln2Lo
	r2 := r * r
	r4 := r2 * r2
	p := (1 + r) + r2*(1.0/2+r*(1.0/6)) +
		r4*((1.0/24+r*(1.0/120))+r2*(1.0/720+r*(1.0/5040))+r4*(1.0/40320+r*(1.0/362880)))
	e := int64(math.Float64bits(t)) - int64(math.Float64bits(shifter)) // k as an integer
	return p * math.Float64frombits(uint64(e+1023)<<52)
}

// tanhf returns tanh(x) with an error below 5·10⁻¹¹ relative: an odd Taylor
// polynomial near 0, where 1 − 2/(e^{2x}+1) would cancel, and that formula
// elsewhere.
func tanhf(x float64) float64 {
	if a := math.Abs(x); a < 0.0625 {
		s := x * x // the first term left out, 62/2835·x⁹, is 5·10⁻¹² of x
		return x * (1 - s*(1.0/3-s*(2.0/15-s*(17.0/315))))
	}
	return 1 - 2/(expf(2*x)+1)
}
