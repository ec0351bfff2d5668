package cpuid

import (
	"fmt"
	"os"
	"strings"
)

// Features are the instruction sets a program may use on this CPU.
type Features struct {
	AVX2, FMA, F16C bool // 256-bit: integer AVX2, fused multiply-add, half↔float conversion
	AVX512F         bool // 512-bit foundation
	AVX512BW        bool // 512-bit byte and word integers (VPMOVZXWD on zmm)
	AVX512BF16      bool // VDPBF16PS and the bfloat16 conversions
}

// X86 are this CPU's features, read once at start, less those above
// BLOOM_MAX_CPU_ISA when it is set (Cap).
var X86, CapErr = Cap(detect(), os.Getenv("BLOOM_MAX_CPU_ISA"))

// Cap is f without the features above isa, as oneDNN's ONEDNN_MAX_CPU_ISA
// and OpenBLAS's OPENBLAS_CORETYPE cap theirs: "avx512" or "" keeps every
// feature; "avx2" keeps AVX2, FMA and F16C, what a CPU without AVX-512 has
// (the AVX2 kernels then run, as they would there); "none" keeps none (the
// portable Go kernels). It only takes away: a cap above the CPU changes
// nothing. An unknown isa is an error (CapErr at start: the programs refuse
// to run, rather than run kernels the user did not ask for), and f is
// returned uncapped.
func Cap(f Features, isa string) (Features, error) {
	switch strings.ToLower(strings.TrimSpace(isa)) {
	case "", "avx512":
		return f, nil
	case "avx2":
		return Features{AVX2: f.AVX2, FMA: f.FMA, F16C: f.F16C}, nil
	case "none":
		return Features{}, nil
	}
	return f, fmt.Errorf("BLOOM_MAX_CPU_ISA=%q: want avx512, avx2 or none", isa)
}

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
