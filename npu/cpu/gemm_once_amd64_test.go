//go:build !purego

package cpu

import (
	"math"
	"math/rand/v2"
	"syscall"
	"testing"
	"unsafe"

	"bloom/internal/half"
	"bloom/npu"
)

// guardedBytes returns n bytes that end exactly at an inaccessible page.
func guardedBytes(t *testing.T, n int) []byte {
	pg := syscall.Getpagesize()
	pages := (n+pg-1)/pg + 1
	mem, err := syscall.Mmap(-1, 0, pages*pg, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mprotect(mem[(pages-1)*pg:], syscall.PROT_NONE); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Munmap(mem) })
	end := (pages - 1) * pg
	return mem[end-n : end : end]
}

func guardedF32(t *testing.T, n int) []float32 {
	b := guardedBytes(t, 4*n)
	return unsafe.Slice((*float32)(unsafe.Pointer(&b[0])), n)
}

func guardedU16(t *testing.T, n int) []uint16 {
	b := guardedBytes(t, 2*n)
	return unsafe.Slice((*uint16)(unsafe.Pointer(&b[0])), n)
}

// TestOnceKernelsMatchTile: the 8- and 12-row kernels against the 14×32 tile,
// every n of 5..12, odd depths, ldb/ldc wider than 32, operands ending at a
// guard page, C's gaps untouched; fp16/bf16 B against float32 over widened B.
func TestOnceKernelsMatchTile(t *testing.T) {
	if !hasAVX512F() {
		t.Skip("UNTESTED here: this CPU has no AVX-512F")
	}
	r := rand.New(rand.NewPCG(9, 9))
	for n := onceMin; n <= onceMax; n++ {
		st := onceStride(n)
		for _, kc := range []int{1, 2, 3, 7, 8, 9, 31, 64, 257, 512} {
			for _, ld := range [][2]int{{32, 32}, {40, 35}} {
				ldb, ldc := ld[0], ld[1]
				a := guardedF32(t, kc*st)
				a14 := make([]float32, kc*14+gemmPackSlack)
				for p := range kc {
					for i := range n {
						v := float32(r.NormFloat64())
						a[p*st+i], a14[p*14+i] = v, v
					}
				}
				b := guardedF32(t, (kc-1)*ldb+32)
				for i := range b {
					b[i] = float32(r.NormFloat64())
				}
				for _, alpha := range []float32{1, 0.37} {
					want := make([]float32, 14*32)
					sgemmKernel14x32(1, kc, &a14[0], 14, 0, &b[0], ldb, &want[0], 32, alpha, 0)
					c := guardedF32(t, (st-1)*ldc+32)
					for i := range c {
						c[i] = float32(math.NaN())
					}
					sgemmOnceAVX512(n, kc, a, b, ldb, c, ldc, alpha)
					for i := range c {
						row, col := i/ldc, i%ldc
						if col >= 32 {
							if !math.IsNaN(float64(c[i])) {
								t.Fatalf("n %d kc %d: gap c[%d] written", n, kc, i)
							}
							continue
						}
						if row < n && math.Float32bits(c[i]) != math.Float32bits(want[row*32+col]) {
							t.Fatalf("n %d kc %d ldb %d alpha %v: C[%d][%d] = %v, tile %v", n, kc, ldb, alpha, row, col, c[i], want[row*32+col])
						}
						if row >= n && c[i] != 0 {
							t.Fatalf("n %d kc %d: padded row %d = %v, want 0", n, kc, row, c[i])
						}
					}
					// Half B: the bits of float32 B over the widened values.
					for _, hk := range []struct {
						name    string
						ok      bool
						toH     func([]uint16, []float32)
						widen   func([]float32, []uint16)
						o8, o12 onceKernel[uint16]
					}{
						{"f16", true, half.ToF16, half.FromF16, hgemmRows8x32F16, hgemmRows12x32F16},
						{"bf16", gemmAVX512.halfBF16 != nil, half.ToBF16, half.FromBF16, hgemmRows8x32BF16, hgemmRows12x32BF16},
					} {
						if !hk.ok {
							continue
						}
						hb := guardedU16(t, len(b))
						hk.toH(hb, b)
						wb := make([]float32, len(b))
						hk.widen(wb, hb)
						wantH := make([]float32, st*ldc)
						sgemmOnceAVX512(n, kc, a, wb, ldb, wantH, ldc, alpha)
						gotH := guardedF32(t, (st-1)*ldc+32)
						onceAVX512(n, kc, a, hb, ldb, gotH, ldc, alpha, hk.o8, hk.o12)
						for i := range gotH {
							if i%ldc < 32 && math.Float32bits(gotH[i]) != math.Float32bits(wantH[i]) {
								t.Fatalf("%s n %d kc %d: c[%d] = %v, widened %v", hk.name, n, kc, i, gotH[i], wantH[i])
							}
						}
					}
				}
			}
		}
	}
}

// TestPackOnce: packOnceAVX2 against its definition, A ending at a
// guard page, rows 1..12 (strides 8 and 12), depths 1..40.
func TestPackOnce(t *testing.T) {
	if !hasAVX2FMA() {
		t.Skip("UNTESTED here: this CPU has no AVX2/FMA")
	}
	r := rand.New(rand.NewPCG(7, 7))
	for rows := 1; rows <= onceMax; rows++ {
		stride := onceStride(rows)
		for kc := 1; kc <= 40; kc++ {
			for _, extra := range []int{0, 1, 5, 8} {
				lda := kc + extra
				a := guardedF32(t, (rows-1)*lda+kc)
				for i := range a {
					a[i] = float32(r.NormFloat64())
				}
				d := guardedF32(t, kc*stride)
				for i := range d {
					d[i] = float32(math.NaN())
				}
				packOnceAVX2(d, a, lda, rows, kc, stride)
				for p := range kc {
					for i := range stride {
						want := float32(0)
						if i < rows {
							want = a[i*lda+p]
						}
						if got := d[p*stride+i]; math.Float32bits(got) != math.Float32bits(want) {
							t.Fatalf("rows %d kc %d lda %d: d[%d][%d] = %v, want %v", rows, kc, lda, p, i, got, want)
						}
					}
				}
			}
		}
	}
}

// TestRowPathsInGemmPacked: GemmPacked with the one-pass kernels gives the bits
// of the same kernel without them (float32, fp16 and bf16 panels), for every
// m of 1..16, many depths, widths, transA, beta, 1-3 threads; and the AVX2
// half row kernels give the bits of the half tile kernel.
func TestRowPathsInGemmPacked(t *testing.T) {
	type pair struct {
		name      string
		with, off *gemmImpl
	}
	var pairs []pair
	if hasAVX512F() {
		off := *gemmAVX512
		off.once = nil
		if h := gemmAVX512.halfF16; h != nil {
			c := *h
			c.once = nil
			off.halfF16 = &c
		}
		if h := gemmAVX512.halfBF16; h != nil {
			c := *h
			c.once = nil
			off.halfBF16 = &c
		}
		pairs = append(pairs, pair{"avx512 once", gemmAVX512, &off})
	}
	if hasAVX2FMA() {
		off := *gemmAVX2
		off.rows = nil
		for _, p := range []**halfKernels{&off.halfF16, &off.halfBF16} {
			if *p != nil {
				c := **p
				c.rows = nil
				*p = &c
			}
		}
		pairs = append(pairs, pair{"avx2 rows", gemmAVX2, &off})
	}
	r := rand.New(rand.NewPCG(11, 11))
	for _, pr := range pairs {
		t.Run(pr.name, func(t *testing.T) {
			for _, threads := range []int{1, 2, 3} {
				d := New(threads)
				for m := 1; m <= 16; m++ {
					for _, k := range []int{1, 9, 300, 513, 1100} {
						for _, n := range []int{1, 33, 100} {
							for _, tA := range []bool{false, true} {
								ar, ac := stored(tA, m, k)
								lda := ac + 1
								a := randPadded(r, ar, ac, lda, float32(math.NaN()))
								b := randPadded(r, k, n, n, 0)
								hb := make([]uint16, len(b))
								half.ToF16(hb, b)
								hbb := make([]uint16, len(b))
								half.ToBF16(hbb, b)
								c0 := randPadded(r, m, n, n+3, 0)
								beta := float32(0)
								if (m+k)%2 == 1 {
									beta = -0.75
								}
								var outs [2][3][]float32
								for v, im := range []*gemmImpl{pr.with, pr.off} {
									prev := sgemmImpl
									sgemmImpl = im
									pbs := []npu.PackedB{
										d.PackB(false, k, n, Buf(b), n),
										d.PackBHalf(false, k, n, HalfBuf{npu.F16, hb}, n),
										d.PackBHalf(false, k, n, HalfBuf{npu.BF16, hbb}, n),
									}
									for i, pb := range pbs {
										c := append([]float32(nil), c0...)
										d.GemmPacked(tA, m, 0.8, Buf(a), lda, pb, beta, Buf(c), n+3)
										outs[v][i] = c
									}
									sgemmImpl = prev
								}
								for i := range 3 {
									if !identical(outs[0][i], outs[1][i]) {
										t.Fatalf("threads %d m %d k %d n %d transA %v beta %v B#%d: differs", threads, m, k, n, tA, beta, i)
									}
								}
							}
						}
					}
				}
			}
		})
	}
}

// TestOnceShared: a shared (many-row) GemmPacked whose last row chunk
// is 5-12 rows takes the one-pass kernels at i0 > 0 (m = 285..292 on 5
// threads: chunks of 70 rows); its bits are those without them.
func TestOnceShared(t *testing.T) {
	if !hasAVX512F() {
		t.Skip("UNTESTED here: this CPU has no AVX-512F")
	}
	off := *gemmAVX512
	off.once = nil
	r := rand.New(rand.NewPCG(13, 13))
	d := New(5)
	for m := 283; m <= 294; m++ {
		for _, tA := range []bool{false, true} {
			k, n := 600, 100
			ar, ac := stored(tA, m, k)
			a := randPadded(r, ar, ac, ac+1, float32(math.NaN()))
			b := randPadded(r, k, n, n, 0)
			c0 := randPadded(r, m, n, n, 0)
			var outs [2][]float32
			for v, im := range []*gemmImpl{gemmAVX512, &off} {
				c := append([]float32(nil), c0...)
				d.GemmPacked(tA, m, 0.8, Buf(a), ac+1, packB(im, false, k, n, b, n), 0.5, Buf(c), n)
				outs[v] = c
			}
			if !identical(outs[0], outs[1]) {
				t.Fatalf("m %d transA %v: differs", m, tA)
			}
		}
	}
}
