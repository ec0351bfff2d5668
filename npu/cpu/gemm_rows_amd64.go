//go:build !purego

package cpu

// sgemmRowsAVX512 computes the first n (< 14) rows of an edge tile of the
// 14×32 AVX-512 kernel, alpha·A·B into c (n rows of 32, ldc apart), in
// groups of 4, 2 and 1 rows (gemm_rows_amd64.s): the bits the whole tile
// gives, for a fraction of its work.
func sgemmRowsAVX512(n, kc int, a []float32, csa int, b []float32, ldb int, c []float32, ldc int, alpha float32) {
	rowsIn(32, n, kc, a, csa, b, ldb, c, ldc, alpha, sgemmRows4x32, sgemmRows2x32, sgemmRows1x32)
}

// rowsKernel is a row kernel of gemm_rows_amd64.h over B of type T.
type rowsKernel[T float32 | uint16] func(k int, a *float32, csa int, b *T, ldb int, c *float32, ldc int, alpha float32)

// rowsIn computes n rows, nr columns wide, in groups of 4, 2 and 1 (rows4,
// rows2, rows1), after checking the slices hold what the kernels read and
// write.
func rowsIn[T float32 | uint16](nr, n, kc int, a []float32, csa int, b []T, ldb int, c []float32, ldc int, alpha float32, rows4, rows2, rows1 rowsKernel[T]) {
	_ = a[n-1+(kc-1)*csa]
	_ = b[(kc-1)*ldb+nr-1]
	_ = c[(n-1)*ldc+nr-1]
	r := 0
	for ; r+4 <= n; r += 4 {
		rows4(kc, &a[r], csa, &b[0], ldb, &c[r*ldc], ldc, alpha)
	}
	if r+2 <= n {
		rows2(kc, &a[r], csa, &b[0], ldb, &c[r*ldc], ldc, alpha)
		r += 2
	}
	if r < n {
		rows1(kc, &a[r], csa, &b[0], ldb, &c[r*ldc], ldc, alpha)
	}
}

// sgemmRowsAVX2 computes the first n (< 6) rows of an edge tile of the 6×16
// AVX2 kernel, as sgemmRowsAVX512 does for the 14×32 one
// (gemm_rows6_amd64.h).
func sgemmRowsAVX2(n, kc int, a []float32, csa int, b []float32, ldb int, c []float32, ldc int, alpha float32) {
	rowsIn(16, n, kc, a, csa, b, ldb, c, ldc, alpha, sgemmRows4x16, sgemmRows2x16, sgemmRows1x16)
}

// The AVX2 row kernels over float32, fp16 and bf16 B.
//
//go:noescape
func sgemmRows4x16(k int, a *float32, csa int, b *float32, ldb int, c *float32, ldc int, alpha float32)

//go:noescape
func sgemmRows2x16(k int, a *float32, csa int, b *float32, ldb int, c *float32, ldc int, alpha float32)

//go:noescape
func sgemmRows1x16(k int, a *float32, csa int, b *float32, ldb int, c *float32, ldc int, alpha float32)

//go:noescape
func hgemmRows4x16F16(k int, a *float32, csa int, b *uint16, ldb int, c *float32, ldc int, alpha float32)

//go:noescape
func hgemmRows2x16F16(k int, a *float32, csa int, b *uint16, ldb int, c *float32, ldc int, alpha float32)

//go:noescape
func hgemmRows1x16F16(k int, a *float32, csa int, b *uint16, ldb int, c *float32, ldc int, alpha float32)

//go:noescape
func hgemmRows4x16BF16(k int, a *float32, csa int, b *uint16, ldb int, c *float32, ldc int, alpha float32)

//go:noescape
func hgemmRows2x16BF16(k int, a *float32, csa int, b *uint16, ldb int, c *float32, ldc int, alpha float32)

//go:noescape
func hgemmRows1x16BF16(k int, a *float32, csa int, b *uint16, ldb int, c *float32, ldc int, alpha float32)

//go:noescape
func sgemmRows4x32(k int, a *float32, csa int, b *float32, ldb int, c *float32, ldc int, alpha float32)

//go:noescape
func sgemmRows2x32(k int, a *float32, csa int, b *float32, ldb int, c *float32, ldc int, alpha float32)

//go:noescape
func sgemmRows1x32(k int, a *float32, csa int, b *float32, ldb int, c *float32, ldc int, alpha float32)

// The row kernels for B of fp16 and bf16 values (ldb values apart),
// widened as they are loaded; the bf16 ones need AVX-512BW.
//
//go:noescape
func hgemmRows4x32F16(k int, a *float32, csa int, b *uint16, ldb int, c *float32, ldc int, alpha float32)

//go:noescape
func hgemmRows2x32F16(k int, a *float32, csa int, b *uint16, ldb int, c *float32, ldc int, alpha float32)

//go:noescape
func hgemmRows1x32F16(k int, a *float32, csa int, b *uint16, ldb int, c *float32, ldc int, alpha float32)

//go:noescape
func hgemmRows4x32BF16(k int, a *float32, csa int, b *uint16, ldb int, c *float32, ldc int, alpha float32)

//go:noescape
func hgemmRows2x32BF16(k int, a *float32, csa int, b *uint16, ldb int, c *float32, ldc int, alpha float32)

//go:noescape
func hgemmRows1x32BF16(k int, a *float32, csa int, b *uint16, ldb int, c *float32, ldc int, alpha float32)

// sgemmRows2x64 is sgemmRows2x32 over two panels of B at once, the second
// panel floats after the first (same ldb), writing each row's 64 columns.
//
//go:noescape
func sgemmRows2x64(k int, a *float32, csa int, b *float32, ldb, panel int, c *float32, ldc int, alpha float32)

// sgemmRows2PairAVX512 is the 2-row edge of two neighbouring 14×32 tiles,
// alpha·A·B into c (2 rows of 64, ldc apart): the bits sgemmRowsAVX512
// gives for each panel.
func sgemmRows2PairAVX512(kc int, a []float32, csa int, b []float32, ldb, panel int, c []float32, ldc int, alpha float32) {
	_ = a[1+(kc-1)*csa]
	_ = b[panel+(kc-1)*ldb+31]
	_ = c[ldc+63]
	sgemmRows2x64(kc, &a[0], csa, &b[0], ldb, panel, &c[0], ldc, alpha)
}

// The one-pass row kernels (gemm_once_amd64.h): 8 or 12 rows of alpha·A·B
// (A k-major, 8 or 12 floats a step) against a 32-column panel of B of
// float32, fp16 or bf16 values (the bf16 ones need AVX-512BW), into c (ldc
// apart), each row of B read once.
//
//go:noescape
func sgemmRows8x32(k int, a *float32, b *float32, ldb int, c *float32, ldc int, alpha float32)

//go:noescape
func sgemmRows12x32(k int, a *float32, b *float32, ldb int, c *float32, ldc int, alpha float32)

//go:noescape
func hgemmRows8x32F16(k int, a *float32, b *uint16, ldb int, c *float32, ldc int, alpha float32)

//go:noescape
func hgemmRows12x32F16(k int, a *float32, b *uint16, ldb int, c *float32, ldc int, alpha float32)

//go:noescape
func hgemmRows8x32BF16(k int, a *float32, b *uint16, ldb int, c *float32, ldc int, alpha float32)

//go:noescape
func hgemmRows12x32BF16(k int, a *float32, b *uint16, ldb int, c *float32, ldc int, alpha float32)

// onceKernel is a one-pass row kernel over B of type T.
type onceKernel[T float32 | uint16] func(k int, a *float32, b *T, ldb int, c *float32, ldc int, alpha float32)

// onceAVX512 is gemmImpl.once (halfKernels.once) for the 14×32 kernel: n
// (5 to 12) rows of A k-major with onceStride(n) floats a step, in one pass
// over B, by once8 or once12.
func onceAVX512[T float32 | uint16](n, kc int, a []float32, b []T, ldb int, c []float32, ldc int, alpha float32, once8, once12 onceKernel[T]) {
	st := onceStride(n)
	_ = a[kc*st-1]
	_ = b[(kc-1)*ldb+31]
	_ = c[(st-1)*ldc+31]
	if st == 8 {
		once8(kc, &a[0], &b[0], ldb, &c[0], ldc, alpha)
		return
	}
	once12(kc, &a[0], &b[0], ldb, &c[0], ldc, alpha)
}

// sgemmOnceAVX512 is onceAVX512 over float32 B.
func sgemmOnceAVX512(n, kc int, a []float32, b []float32, ldb int, c []float32, ldc int, alpha float32) {
	onceAVX512(n, kc, a, b, ldb, c, ldc, alpha, sgemmRows8x32, sgemmRows12x32)
}

// packOnceAVX2 is gemmImpl.packOnce with 8-row transposes (transpose8) for
// whole groups of 8 rows and 8 steps.
func packOnceAVX2(d, a []float32, lda, rows, kc, stride int) {
	k8, r8 := kc&^7, rows&^7
	if k8 > 0 {
		_ = d[k8*stride-1]
		for r := 0; r < r8; r += 8 {
			_ = a[(r+7)*lda+k8-1]
			transpose8(&d[r], &a[r*lda], lda, k8/8, 4*stride)
		}
	}
	packOnceGo(d, a, lda, rows, kc, stride, k8, r8)
}
