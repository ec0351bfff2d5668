package cpuid

import "strings"

// Features are the instruction sets a program may use on this CPU.
type Features struct {
	AVX2, FMA, F16C bool // 256-bit: integer AVX2, fused multiply-add, half↔float conversion
	AVX512F         bool // 512-bit foundation
	AVX512BW        bool // 512-bit byte and word integers (VPMOVZXWD on zmm)
	AVX512BF16      bool // VDPBF16PS and the bfloat16 conversions
}

// X86 are this CPU's features, read once at start.
var X86 = detect()

// String lists the features present, lowercase, in a fixed order ("" when
// none): what a benchmark prints beside its figures.
func (f Features) String() string {
	var out []string
	for _, c := range []struct {
		on   bool
		name string
	}{{f.AVX2, "avx2"}, {f.FMA, "fma"}, {f.F16C, "f16c"}, {f.AVX512F, "avx512f"}, {f.AVX512BW, "avx512bw"}, {f.AVX512BF16, "avx512_bf16"}} {
		if c.on {
			out = append(out, c.name)
		}
	}
	return strings.Join(out, " ")
}
