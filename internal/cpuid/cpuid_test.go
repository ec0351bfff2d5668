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
	for _, c := range []struct {
		name string
		got  bool
	}{{"avx2", X86.AVX2}, {"fma", X86.FMA}, {"f16c", X86.F16C}, {"avx512f", X86.AVX512F}, {"avx512bw", X86.AVX512BW}, {"avx512_bf16", X86.AVX512BF16}} {
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
