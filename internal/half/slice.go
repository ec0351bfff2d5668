package half

// The slice converters convert len(src) elements and panic when dst is
// shorter; they keep neither slice. dst and src must not overlap. Each runs
// the fastest kernel the CPU has (kernels, chosen once at start) and the
// scalar functions for the tail, with results identical bit for bit to the
// scalar functions on every input.

// FromF16 widens the binary16 values in src to float32 in dst.
func FromF16(dst []float32, src []uint16) {
	dst = dst[:len(src)]
	n := best.fromF16(dst, src)
	fromF16Go(dst[n:], src[n:])
}

// ToF16 rounds the float32 values in src to binary16 in dst, as F32ToF16.
func ToF16(dst []uint16, src []float32) {
	dst = dst[:len(src)]
	n := best.toF16(dst, src)
	toF16Go(dst[n:], src[n:])
}

// FromBF16 widens the bfloat16 values in src to float32 in dst.
func FromBF16(dst []float32, src []uint16) {
	dst = dst[:len(src)]
	n := best.fromBF16(dst, src)
	fromBF16Go(dst[n:], src[n:])
}

// ToBF16 rounds the float32 values in src to bfloat16 in dst, as F32ToBF16.
func ToBF16(dst []uint16, src []float32) {
	dst = dst[:len(src)]
	n := best.toBF16(dst, src)
	toBF16Go(dst[n:], src[n:])
}

// RoundF16 sets dst to the float32 values of src rounded to binary16:
// F16ToF32(F32ToF16(x)) for each, in one pass.
func RoundF16(dst, src []float32) {
	dst = dst[:len(src)]
	n := best.roundF16(dst, src)
	for i, v := range src[n:] {
		dst[n+i] = F16ToF32(F32ToF16(v))
	}
}

// RoundBF16 sets dst to the float32 values of src rounded to bfloat16:
// BF16ToF32(F32ToBF16(x)) for each, in one pass.
func RoundBF16(dst, src []float32) {
	dst = dst[:len(src)]
	n := best.roundBF16(dst, src)
	for i, v := range src[n:] {
		dst[n+i] = BF16ToF32(F32ToBF16(v))
	}
}

// kernelSet is one instruction set's converters. Each converts a prefix of
// its arguments (which have equal lengths) and returns how many elements it
// did; the caller finishes the rest with the scalar loops.
type kernelSet struct {
	name              string
	fromF16, fromBF16 func(dst []float32, src []uint16) int
	toF16, toBF16     func(dst []uint16, src []float32) int
	// roundF16 and roundBF16 round float32 to the half type and back.
	roundF16, roundBF16 func(dst, src []float32) int
}

// scalarSet does nothing: the scalar loops do all the work.
var scalarSet = kernelSet{
	name:      "go",
	fromF16:   func([]float32, []uint16) int { return 0 },
	fromBF16:  func([]float32, []uint16) int { return 0 },
	toF16:     func([]uint16, []float32) int { return 0 },
	toBF16:    func([]uint16, []float32) int { return 0 },
	roundF16:  func([]float32, []float32) int { return 0 },
	roundBF16: func([]float32, []float32) int { return 0 },
}

// best is the kernel set the exported converters use: the last of kernels.
var best = kernels[len(kernels)-1]

// Kernel names the instruction sets the slice converters use on this CPU,
// for benchmark and log lines: "go" where there are none.
func Kernel() string { return best.name }

func fromF16Go(dst []float32, src []uint16) {
	dst = dst[:len(src)]
	for i, v := range src {
		dst[i] = F16ToF32(v)
	}
}

func toF16Go(dst []uint16, src []float32) {
	dst = dst[:len(src)]
	for i, v := range src {
		dst[i] = F32ToF16(v)
	}
}

func fromBF16Go(dst []float32, src []uint16) {
	dst = dst[:len(src)]
	for i, v := range src {
		dst[i] = BF16ToF32(v)
	}
}

func toBF16Go(dst []uint16, src []float32) {
	dst = dst[:len(src)]
	for i, v := range src {
		dst[i] = F32ToBF16(v)
	}
}
