package cpuid

import (
	"os"
	"runtime"
	"strings"
	"testing"
)

// TestAgreesWithKernel checks X86 against the flags the Linux kernel reads
// from the same CPU (/proc/cpuinfo), which also reflect what the OS enabled.
func TestAgreesWithKernel(t *testing.T) {
	b, err := os.ReadFile("/proc/cpuinfo")
	if runtime.GOARCH != "amd64" || err != nil {
		t.Skip("no x86-64 /proc/cpuinfo here")
	}
	var flags map[string]bool
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "flags" {
			flags = map[string]bool{}
			for _, f := range strings.Fields(v) {
				flags[f] = true
			}
			break
		}
	}
	if flags == nil {
		t.Skip("no flags line in /proc/cpuinfo")
	}
	found := detect() // X86 may be capped by BLOOM_MAX_CPU_ISA
	for _, c := range []struct {
		name string
		got  bool
	}{{"avx2", found.AVX2}, {"fma", found.FMA}, {"f16c", found.F16C}, {"avx512f", found.AVX512F}, {"avx512bw", found.AVX512BW}, {"avx512_bf16", found.AVX512BF16}} {
		if c.got != flags[c.name] {
			t.Errorf("%s: cpuid says %v, /proc/cpuinfo says %v", c.name, c.got, flags[c.name])
		}
	}
	t.Logf("this CPU: %s", X86)
}

func TestString(t *testing.T) {
	if s := (Features{AVX2: true, AVX512BF16: true}).String(); s != "avx2 avx512_bf16" {
		t.Errorf("String = %q", s)
	}
	if s := (Features{}).String(); s != "" {
		t.Errorf("String of none = %q", s)
	}
}

// TestCap: BLOOM_MAX_CPU_ISA takes features away, never adds them, and an
// unknown value is an error.
func TestCap(t *testing.T) {
	all := Features{AVX2: true, FMA: true, F16C: true, AVX512F: true, AVX512BW: true, AVX512BF16: true}
	avx2 := Features{AVX2: true, FMA: true, F16C: true}
	for _, c := range []struct {
		in   Features
		isa  string
		want Features
	}{{all, "", all}, {all, "avx512", all}, {all, "AVX2", avx2}, {all, "none", Features{}}, {Features{}, "avx2", Features{}},
		{Features{AVX2: true, FMA: true}, "avx512", Features{AVX2: true, FMA: true}}} {
		if got, err := Cap(c.in, c.isa); err != nil || got != c.want {
			t.Errorf("Cap(%v, %q) = %v, %v; want %v", c.in, c.isa, got, err, c.want)
		}
	}
	if got, err := Cap(all, "sse4"); err == nil || !strings.Contains(err.Error(), "BLOOM_MAX_CPU_ISA") || got != all {
		t.Errorf("Cap(sse4) = %v, %v", got, err)
	}
}
