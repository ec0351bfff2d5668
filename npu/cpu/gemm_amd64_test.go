//go:build !purego

package cpu

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"bloom/internal/cpuid"
	"bloom/npu"
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

// TestGemmHalfDispatch checks which kernel GemmHalf runs for each half type
// on each kind of CPU, the features forced: the VDPBF16PS kernel for bf16
// only with AVX512_BF16 (and AVX-512F, AVX2, FMA), else the float32 kernel
// with widening packers; and that this CPU gets what its features say.
func TestGemmHalfDispatch(t *testing.T) {
	sprBF16 := cpuid.Features{AVX2: true, FMA: true, F16C: true, AVX512F: true, AVX512BF16: true}
	avx512 := cpuid.Features{AVX2: true, FMA: true, F16C: true, AVX512F: true}
	avx2 := cpuid.Features{AVX2: true, FMA: true, F16C: true}
	for _, tc := range []struct {
		what       string
		f          cpuid.Features
		bf16, fp16 string
	}{
		{"avx512 with avx512_bf16", sprBF16, "avx512bf16", "avx512"},
		{"avx512 without avx512_bf16", avx512, "avx512", "avx512"},
		{"avx2", avx2, "avx2", "avx2"},
		{"none", cpuid.Features{}, "go", "go"},
		{"avx512_bf16 flag without avx512f", cpuid.Features{AVX2: true, FMA: true, AVX512BF16: true}, "avx2", "avx2"},
	} {
		t.Run(tc.what, func(t *testing.T) {
			useGemm(t, gemmImplsFor(tc.f.AVX512F && tc.f.AVX2 && tc.f.FMA, tc.f.AVX2 && tc.f.FMA)[0])
			useBgemm(t, bgemmImplFor(tc.f))
			for _, c := range []struct {
				dt   npu.DType
				want string
			}{{npu.BF16, tc.bf16}, {npu.F16, tc.fp16}} {
				im, widen := halfImpl(c.dt)
				if im.name != c.want || (widen == nil) != im.pairs {
					t.Errorf("%v runs %s (widening %v), want %s", c.dt, im.name, widen != nil, c.want)
				}
			}
		})
	}
	want := bgemmImplFor(cpuid.X86)
	if bgemmImpl != want {
		t.Errorf("this CPU (%s): bf16 kernel %v, want %v", cpuid.X86, bgemmImpl, want)
	}
	if cpuid.X86.AVX512BF16 != (want != nil) && cpuid.X86.AVX512F {
		t.Errorf("this CPU (%s): avx512_bf16 and the bf16 kernel disagree", cpuid.X86)
	}
	t.Logf("this CPU: %s; GemmHalf bf16 kernel: %s", cpuid.X86, map[bool]string{true: "avx512bf16 (VDPBF16PS)", false: "float32 " + sgemmImpl.name + ", widening"}[want != nil])
}

// TestBF16KernelMatchesModel checks the VDPBF16PS kernel against the Go model
// of its arithmetic, bit for bit, through GemmHalf's whole bf16 path, on
// the cases of TestBF16ModelGemm and on values that reach DAZ and FTZ. It
// can run only where the CPU has AVX512_BF16.
func TestBF16KernelMatchesModel(t *testing.T) {
	if bgemmImplFor(cpuid.X86) == nil {
		t.Skipf("UNTESTED: this CPU (%s) has no AVX512_BF16, so the VDPBF16PS kernel (gemmBF16AVX512) has not run here", cpuid.X86)
	}
	if got := [5]int{gemmBF16AVX512.mr, gemmBF16AVX512.nr, gemmBF16AVX512.kc, gemmBF16AVX512.mc, gemmBF16AVX512.nc}; got != [5]int{gemmBF16Model.mr, gemmBF16Model.nr, gemmBF16Model.kc, gemmBF16Model.mc, gemmBF16Model.nc} {
		t.Fatalf("the model's tile and blocking %v differ from the kernel's", got)
	}
	rng := rand.New(rand.NewPCG(15, 16))
	for ci, tc := range bf16Cases() {
		o := newHalfOperands(npu.BF16, tc, rng)
		if ci%3 == 0 {
			// Tiny values: subnormal inputs (DAZ) and products (FTZ).
			for i := range o.ha {
				if o.ha[i]&0x7f80 != 0x7f80 && i%2 == 0 {
					o.ha[i] = o.ha[i]&0x807f | 0x0080*uint16(i%3)
				}
			}
		}
		run := func(im *gemmImpl) []float32 {
			useBgemm(t, im)
			c := append([]float32(nil), o.c...)
			hgemm(newPool(1+ci%2), npu.BF16, tc.transA, tc.transB, tc.m, tc.n, tc.k, tc.alpha, o.ha, o.lda, o.hb, o.ldb, tc.beta, c, o.ldc)
			return c
		}
		got, want := run(gemmBF16AVX512), run(gemmBF16Model)
		for i := range got {
			same := math.Float32bits(got[i]) == math.Float32bits(want[i]) || (got[i] != got[i] && want[i] != want[i])
			if !same {
				t.Fatalf("%v: C[%d] = %g (%#08x), model %g (%#08x)", tc, i, got[i], math.Float32bits(got[i]), want[i], math.Float32bits(want[i]))
			}
		}
	}
}

// TestHalfKernelsDispatch: the 6×16 AVX2 kernel reads bf16 panels in place,
// and fp16 ones with F16C; on a CPU with AVX-512 the 14×32 kernel reads
// fp16 panels in place, and bf16 ones where it also has AVX-512BW
// (VPMOVZXWD on zmm). TestGemmPackedHalf checks their bits.
func TestHalfKernelsDispatch(t *testing.T) {
	if hasAVX2FMA() && (gemmAVX2.halfBF16 == nil || (gemmAVX2.halfF16 != nil) != cpuid.X86.F16C) {
		t.Errorf("AVX2 kernels over half B: fp16 %v, bf16 %v, on a CPU with F16C %v",
			gemmAVX2.halfF16 != nil, gemmAVX2.halfBF16 != nil, cpuid.X86.F16C)
	}
	if !hasAVX512F() {
		t.Skip("no AVX-512 on this CPU: the half panels are widened (TestGemmPackedHalf)")
	}
	if gemmAVX512.halfF16 == nil || (gemmAVX512.halfBF16 != nil) != cpuid.X86.AVX512BW {
		t.Errorf("AVX-512 kernels over half B: fp16 %v, bf16 %v, on a CPU with AVX-512BW %v",
			gemmAVX512.halfF16 != nil, gemmAVX512.halfBF16 != nil, cpuid.X86.AVX512BW)
	}
}

// TestVDPBF16PSEncoding reads the bf16 kernel's hand-encoded VDPBF16PS
// instructions back with an independent decoder, GNU objdump (binutils), from
// this test binary: every one must decode as VDPBF16PS with the accumulator,
// B register and broadcast A pair KSTEPBF means (Zd += Zs·4r(AX){1to16}, row
// r in Z2r and Z2r+1), three k-steps of 28 each, all in sbgemmKernel14x32
// (found by address: go test strips the symbol table). It checks the bytes,
// not their execution: that needs AVX512_BF16 (TestBF16KernelMatchesModel).
func TestVDPBF16PSEncoding(t *testing.T) {
	objdump, err := exec.LookPath("objdump")
	if err != nil {
		t.Skip("no objdump (apt-get install binutils): the VDPBF16PS encoding is not checked")
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(objdump, "-d", "--no-show-raw-insn", exe).Output()
	if err != nil {
		t.Fatalf("objdump -d %s: %v", exe, err)
	}
	insn := regexp.MustCompile(`^([0-9a-f]+):\s+vdpbf16ps\s+(?:0x([0-9a-f]+))?\(%rax\)\{1to16\},%zmm(\d+),%zmm(\d+)$`)
	var n int
	for _, line := range strings.Split(string(out), "\n") {
		line = strings.TrimSpace(line)
		if !strings.Contains(line, "vdpbf16ps") {
			continue
		}
		m := insn.FindStringSubmatch(line)
		if m == nil {
			t.Fatalf("instruction %d decodes as %q, not VDPBF16PS Zd, Zs, disp(AX){1to16}", n, line)
		}
		pc, _ := strconv.ParseUint(m[1], 16, 64)
		if f := runtime.FuncForPC(uintptr(pc)); f == nil || !strings.HasSuffix(f.Name(), ".sbgemmKernel14x32") {
			t.Fatalf("%q is not in sbgemmKernel14x32", line)
		}
		disp, _ := strconv.ParseInt("0"+m[2], 16, 64)
		s, _ := strconv.Atoi(m[3])
		d, _ := strconv.Atoi(m[4])
		i := n % 28
		if want := [3]int{4 * (i / 2), 28 + i%2, i}; [3]int{int(disp), s, d} != want {
			t.Errorf("instruction %d: %q: (disp, zmm B, zmm acc) = (%d, %d, %d), want %v", n, line, disp, s, d, want)
		}
		n++
	}
	if n != 3*28 {
		t.Errorf("%d VDPBF16PS in the binary, want 84 (sbgemmKernel14x32's three k-steps of 28)", n)
	}
}
