package cpu

import (
	"fmt"
	"testing"
)

// TestGemmDispatch checks the choice of kernel for each kind of CPU — with
// AVX-512, with AVX2/FMA only, with neither — and that this CPU runs the best
// kernel its features allow.
func TestGemmDispatch(t *testing.T) {
	names := func(l []*gemmImpl) (s []string) {
		for _, im := range l {
			s = append(s, im.name)
		}
		return s
	}
	for _, tc := range []struct {
		avx512, avx2 bool
		want         string
	}{
		{true, true, "[avx512 avx2 go]"},
		{false, true, "[avx2 go]"},
		{false, false, "[go]"},
	} {
		if got := names(gemmImplsFor(tc.avx512, tc.avx2)); fmt.Sprint(got) != tc.want {
			t.Errorf("avx512=%v avx2=%v: kernels %v, want %s", tc.avx512, tc.avx2, got, tc.want)
		}
	}
	avx512, avx2 := hasAVX512F(), hasAVX2FMA()
	t.Logf("this CPU: avx512f=%v avx2+fma=%v, kernels %v", avx512, avx2, names(gemmImpls))
	if want := fmt.Sprint(names(gemmImplsFor(avx512, avx2))); fmt.Sprint(names(gemmImpls)) != want || sgemmImpl != gemmImpls[0] {
		t.Errorf("this CPU runs %v (sgemm uses %s), want %s", names(gemmImpls), sgemmImpl.name, want)
	}
	if avx512 && !avx2 {
		t.Errorf("AVX-512F without AVX2/FMA: CPUID or XGETBV misread")
	}
}
