package cpuid

// detect reads CPUID leaves 1 and 7 and XCR0.
func detect() Features {
	maxID, _, _, _ := cpuid(0, 0)
	_, _, ecx1, _ := cpuid(1, 0)
	const fma, osxsave, avx, f16c = 1 << 12, 1 << 27, 1 << 28, 1 << 29
	if ecx1&(osxsave|avx) != osxsave|avx {
		return Features{}
	}
	xcr0, _ := xgetbv()
	if xcr0&6 != 6 { // SSE and ymm state
		return Features{}
	}
	var f Features
	f.FMA, f.F16C = ecx1&fma != 0, ecx1&f16c != 0
	if maxID < 7 {
		return f
	}
	maxSub7, ebx7, _, _ := cpuid(7, 0)
	var eax71 uint32 // leaf 7 subleaf 1 exists when subleaf 0's EAX says so
	if maxSub7 >= 1 {
		eax71, _, _, _ = cpuid(7, 1)
	}
	// AVX2, AVX-512F and AVX-512BW: leaf 7 subleaf 0, EBX bits 5, 16 and
	// 30; AVX512_BF16: leaf 7 subleaf 1, EAX bit 5.
	const avx2, avx512f, avx512bw, avx512bf16 = 1 << 5, 1 << 16, 1 << 30, 1 << 5
	f.AVX2 = ebx7&avx2 != 0
	if xcr0&0xe6 == 0xe6 { // + opmask, ZMM_Hi256, Hi16_ZMM
		f.AVX512F = ebx7&avx512f != 0
		f.AVX512BW = f.AVX512F && ebx7&avx512bw != 0
		f.AVX512BF16 = f.AVX512F && eax71&avx512bf16 != 0
	}
	return f
}

// cpuid executes CPUID with EAX=eaxArg and ECX=ecxArg.
func cpuid(eaxArg, ecxArg uint32) (eax, ebx, ecx, edx uint32)

// xgetbv reads the extended control register XCR0.
func xgetbv() (eax, edx uint32)
