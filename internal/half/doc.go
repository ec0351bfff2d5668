// Package half is the one definition of the half-precision formats: IEEE 754
// binary16 ("fp16") and bfloat16 ("bf16"), and their conversions to and from
// float32. The collective's FP16 and BF16 reductions, the safetensors reader
// and writer, and the devices all round through it, so a gradient reduced in
// fp16 and a checkpoint written in fp16 round alike.
//
// What it owns: the scalar conversions (F32ToF16, F16ToF32, F32ToBF16,
// BF16ToF32) and the slice converters (FromF16, ToF16, FromBF16, ToBF16),
// which on amd64 run F16C's VCVTPH2PS and VCVTPS2PH (256-bit, or 512-bit
// with AVX-512F) for fp16 and integer rounding in AVX2 or AVX-512F for bf16,
// chosen at start from CPUID, and give the scalar functions' bits exactly.
// It imports nothing of this project, so every layer may import it,
// the device contract (npu) and its backends included.
//
// The formats:
//
//	          sign exponent mantissa  bias  max finite       min normal  min subnormal
//	fp16         1        5       10    15  65504            2^-14       2^-24
//	bf16         1        8        7   127  ≈3.39·10^38      2^-126      2^-133
//	float32      1        8       23   127  ≈3.40·10^38      2^-126      2^-149
//
// bfloat16 is the top 16 bits of a float32: the same exponent range, so
// widening is a shift and narrowing never overflows but at the very top,
// with 8 bits of precision (about 2.4 decimal digits) where fp16 has 11
// (3.3 digits) over a range that ends at 65504. fp16 values of magnitude
// 65520 and above round to ±Inf, which is why fp16 training needs a loss
// scaler and bf16 training does not.
//
// Rounding is to nearest, ties to even (RNE), in every narrowing: it is IEEE
// 754's default, what the hardware conversions (VCVTPS2PH with rounding
// immediate 0, the accelerators' casts) and PyTorch's .half() and
// .bfloat16() do, so results compare bit for bit with a reference; and it
// is unbiased, where truncation would pull every value toward zero and
// accumulate a drift over millions of rounded updates. Subnormals are kept
// (no flush to zero), -0 keeps its sign, and a NaN stays a quiet NaN with
// its sign and the top bits of its payload.
//
// Usage:
//
//	h := half.F32ToF16(0.1)     // 0x2e66
//	x := half.F16ToF32(h)       // 0.0999755859375
//
//	w := make([]uint16, len(weights))
//	half.ToBF16(w, weights)     // round a float32 buffer to bf16
//	half.FromBF16(weights, w)   // and widen it back
package half
