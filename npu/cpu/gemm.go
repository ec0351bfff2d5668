package cpu

import (
	"fmt"
	"sync"
)

// The GEMM is the GotoBLAS/BLIS loop nest:
//
//	for jc over n in NC columns          packed B block (KC×NC) lives in L3
//	  for pc over k in KC steps          pack B[pc:pc+KC, jc:jc+NC]  (threads share it)
//	    for ic over this thread's rows   pack A[ic:ic+MC, pc:pc+KC]  (MC×KC in L2)
//	      for jr over NR-column panels   one KC×NR panel of B stays in L1
//	        for ir over MR-row panels    micro-kernel: MR×NR tile of C in registers
//
// The micro-kernel reads A and B through strides, so an operand small enough
// to stay in cache is read in place instead of packed (only partial edge
// panels are copied, zero-padded, to scratch), which keeps small GEMMs cheap.
// B stored transposed is always packed, by an 8×8 transpose on amd64.
//
// Threads split the MR-row tiles (or, when m is small, the NR-column panels) of
// each (jc, pc) step, so every tile of C is computed by the same kernel with the
// same KC-blocked summation order whatever the thread count: results are
// bit-identical run after run and across thread counts.
const (
	gemmMR = 6  // rows of the register tile (6×16 floats = 12 ymm accumulators)
	gemmNR = 16 // columns of the register tile
	// gemmKC is the depth of one panel pair: a KC×NR panel of B is 16 KiB and
	// stays in the 32 KiB L1 while MR×KC panels of A stream from L2. It also
	// fixes where partial sums are rounded into C, so it must not depend on
	// the thread count.
	gemmKC = 256
	// gemmMC×gemmKC floats of packed A (144 KiB) stay in the 512 KiB L2.
	gemmMC = 144
	// gemmKC×gemmNC floats of packed B (4 MiB) stay in the 32 MiB L3.
	gemmNC = 4096
	// gemmInPlace is the size in floats (128 KiB, within L2) up to which an
	// operand is read in place rather than packed.
	gemmInPlace = 32 << 10
	// gemmSerialFlops is the size below which a GEMM runs on one thread: the
	// fork-join of the pool costs a few microseconds.
	gemmSerialFlops = 1 << 22
)

// gemmKernel computes one MR×NR tile: C = alpha·A·B + beta·C, where
// A[i][p] = a[i·rsa + p·csa] (MR×kc), B[p][j] = b[p·ldb + j] (kc×NR) and
// C[i][j] = c[i·ldc + j]. beta == 0 does not read C. kc >= 1.
type gemmKernel func(kc int, a []float32, rsa, csa int, b []float32, ldb int, c []float32, ldc int, alpha, beta float32)

// sgemmKernel and sgemmPackBT are what every sgemm uses; gemm_amd64.go
// selects the AVX2/FMA assembly when the CPU has it. Tests swap in the
// portable versions.
var (
	sgemmKernel gemmKernel                        = sgemmKernelGo
	sgemmPackBT func(d, b []float32, ldb, kc int) = packBTGo
)

// sgemm computes C = alpha·op(A)·op(B) + beta·C, row-major BLAS semantics (see
// npu.Linear): op(A) is m×k (A is stored k×m when transA), op(B) is k×n (B is
// stored n×k when transB), C is m×n with leading dimension ldc. beta == 0
// overwrites C without reading it. It keeps none of the slices.
func sgemm(p *pool, transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	if m <= 0 || n <= 0 {
		return
	}
	g := getCall()
	defer g.release()
	g.gemmOp = gemmOp{transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha,
		a: a, lda: lda, b: b, ldb: ldb, c: c, ldc: ldc,
		kern: sgemmKernel, packBT: sgemmPackBT}
	g.check()
	if k <= 0 || alpha == 0 {
		scaleMatrix(c, m, n, ldc, beta)
		return
	}
	// An operand is packed when it is large and reused by more than two
	// panels of the other; B stored transposed must be packed.
	g.packA = m*k > gemmInPlace && n > 2*gemmNR
	g.packB = transB || (k*n > gemmInPlace && m > 2*gemmMR)
	threads := p.threads
	if 2*m*n*k < gemmSerialFlops {
		threads = 1
	}
	g.run(p, threads, beta)
}

// gemmOp holds the operands of one sgemm call.
type gemmOp struct {
	transA, transB bool
	m, n, k        int
	alpha          float32
	a, b, c        []float32
	lda, ldb, ldc  int
	packA, packB   bool
	kern           gemmKernel
	packBT         func(d, b []float32, ldb, kc int)
}

// check panics when a slice is too short or a leading dimension too small:
// both are programmer errors in the caller.
func (g *gemmOp) check() {
	ar, ac := g.m, g.k
	if g.transA {
		ar, ac = ac, ar
	}
	br, bc := g.k, g.n
	if g.transB {
		br, bc = bc, br
	}
	need := func(name string, s []float32, rows, cols, ld int) {
		if ld < max(cols, 1) {
			panic(fmt.Sprintf("cpu: sgemm: ld%s = %d < %d columns", name, ld, cols))
		}
		if rows > 0 && cols > 0 && len(s) < (rows-1)*ld+cols {
			panic(fmt.Sprintf("cpu: sgemm: len(%s) = %d < %d for %d×%d with ld %d", name, len(s), (rows-1)*ld+cols, rows, cols, ld))
		}
	}
	need("a", g.a, ar, ac, g.lda)
	need("b", g.b, br, bc, g.ldb)
	need("c", g.c, g.m, g.n, g.ldc)
}

// gemmCall is one sgemm in flight: its operands, the current (jc, pc) step
// and the loop bodies it hands to the pool, bound once per gemmCall so that a
// call allocates nothing.
type gemmCall struct {
	gemmOp
	st                     gemmStep
	panels                 int // NR-column panels in this jc block
	packFn, rowsFn, colsFn func(lo, hi int)
}

var gemmCallFree freeList[gemmCall]

func getCall() *gemmCall {
	if g := gemmCallFree.get(); g != nil {
		return g
	}
	g := &gemmCall{}
	g.packFn = func(lo, hi int) {
		for jp := lo; jp < hi; jp++ {
			g.packPanelB(g.st.bp[jp*gemmNR*g.st.kc:], g.st.jc+jp*gemmNR, g.st.pc, g.st.kc)
		}
	}
	g.rowsFn = func(lo, hi int) { g.block(&g.st, lo*gemmMR, min(hi*gemmMR, g.m), 0, g.panels) }
	g.colsFn = func(lo, hi int) { g.block(&g.st, 0, g.m, lo, hi) }
	return g
}

// release drops the caller's slices and returns g to the free list.
func (g *gemmCall) release() {
	g.gemmOp = gemmOp{}
	g.st = gemmStep{}
	gemmCallFree.put(g)
}

// run is the loop nest over (jc, pc); beta applies to the first KC step.
// The n and k ranges are cut into equal blocks of at most NC and KC (NC
// blocks on NR boundaries), so no step is left with a sliver: k = 257 runs
// as 129 + 128, not 256 + 1.
func (g *gemmCall) run(p *pool, threads int, beta float32) {
	ncMax := roundUp(ceilDiv(g.n, ceilDiv(g.n, gemmNC)), gemmNR)
	kcMax := ceilDiv(g.k, ceilDiv(g.k, gemmKC))
	var bufp *[]float32
	if g.packB {
		bufp = getPanelB(ncMax * kcMax)
		defer gemmPanelFree.put(bufp)
	}
	tilesM := ceilDiv(g.m, gemmMR)
	for jc := 0; jc < g.n; jc += ncMax {
		g.panels = ceilDiv(min(ncMax, g.n-jc), gemmNR)
		for pc := 0; pc < g.k; pc += kcMax {
			g.st = gemmStep{pc: pc, kc: min(kcMax, g.k-pc), jc: jc, beta: beta}
			if g.packB {
				g.st.bp = (*bufp)[:g.panels*gemmNR*g.st.kc]
				forThreads(p, threads, g.panels, g.packFn)
			}
			if tilesM >= 4*threads {
				forThreads(p, threads, tilesM, g.rowsFn)
			} else {
				forThreads(p, threads, g.panels, g.colsFn)
			}
			beta = 1
		}
	}
}

func ceilDiv(a, b int) int { return (a + b - 1) / b }

func roundUp(a, b int) int { return ceilDiv(a, b) * b }

// forThreads splits [0,n) into at most threads ranges and runs f on them.
func forThreads(p *pool, threads, n int, f func(lo, hi int)) {
	p.parallelFor(n, (n+threads-1)/threads, f)
}

// gemmStep is one (jc, pc) step of the loop nest: when B is packed, bp holds
// B[pc:pc+kc, jc:jc+NC] as kc×NR panels.
type gemmStep struct {
	bp         []float32
	pc, kc, jc int
	beta       float32
}

// block computes rows [i0,i1) of C against the NR-column panels [plo,phi) of
// step st, packing A in MC-row chunks into this goroutine's scratch. i0 is a
// multiple of MR.
func (g *gemmOp) block(st *gemmStep, i0, i1, plo, phi int) {
	s := getScratch()
	defer gemmScratchFree.put(s)
	for ic := i0; ic < i1; ic += gemmMC {
		mc := min(gemmMC, i1-ic)
		tiles := (mc + gemmMR - 1) / gemmMR
		if g.packA {
			g.packBlockA(s.a, ic, mc, st.pc, st.kc)
		} else if last := ic + (tiles-1)*gemmMR; g.m-last < gemmMR {
			g.packPanelA(s.edgeA[:], last, st.pc, st.kc)
		}
		for jp := plo; jp < phi; jp++ {
			j := st.jc + jp*gemmNR
			b, ldb := g.panelB(st, s, jp, j)
			for t := range tiles {
				i := ic + t*gemmMR
				a, rsa, csa := g.panelA(st, s, t, i)
				if i+gemmMR <= g.m && j+gemmNR <= g.n {
					g.kern(st.kc, a, rsa, csa, b, ldb, g.c[i*g.ldc+j:], g.ldc, g.alpha, st.beta)
				} else {
					s.edge(g, st, a, rsa, csa, b, ldb, i, j)
				}
			}
		}
	}
}

// panelA returns the kc×MR micro-panel of A for rows [i, i+MR), the t-th of
// the current MC chunk, and its strides.
func (g *gemmOp) panelA(st *gemmStep, s *gemmScratch, t, i int) ([]float32, int, int) {
	rsa, csa := st.kc, 1
	if g.transA {
		rsa, csa = 1, gemmMR
	}
	switch {
	case g.packA:
		return s.a[t*gemmMR*st.kc:], rsa, csa
	case i+gemmMR > g.m:
		return s.edgeA[:], rsa, csa
	case g.transA:
		return g.a[st.pc*g.lda+i:], 1, g.lda
	default:
		return g.a[i*g.lda+st.pc:], g.lda, 1
	}
}

// panelB returns the kc×NR micro-panel jp of B (columns [j, j+NR)) and its
// row stride.
func (g *gemmOp) panelB(st *gemmStep, s *gemmScratch, jp, j int) ([]float32, int) {
	switch {
	case g.packB:
		return st.bp[jp*gemmNR*st.kc:], gemmNR
	case j+gemmNR > g.n:
		g.packPanelB(s.edgeB[:], j, st.pc, st.kc)
		return s.edgeB[:], gemmNR
	default:
		return g.b[st.pc*g.ldb+j:], g.ldb
	}
}

// edge computes a partial tile at (i, j) through the scratch tile, so the
// kernel never touches C outside the matrix.
func (s *gemmScratch) edge(g *gemmOp, st *gemmStep, a []float32, rsa, csa int, b []float32, ldb, i, j int) {
	g.kern(st.kc, a, rsa, csa, b, ldb, s.tile[:], gemmNR, g.alpha, 0)
	nr := min(gemmNR, g.n-j)
	for r := range min(gemmMR, g.m-i) {
		row := g.c[(i+r)*g.ldc+j:][:nr]
		t := s.tile[r*gemmNR:][:nr]
		if st.beta == 0 {
			copy(row, t)
			continue
		}
		for x := range row {
			row[x] = st.beta*row[x] + t[x]
		}
	}
}

// scaleMatrix sets C = beta·C; beta == 0 does not read C.
func scaleMatrix(c []float32, m, n, ldc int, beta float32) {
	for i := range m {
		row := c[i*ldc:][:n]
		switch beta {
		case 0:
			clear(row)
		case 1:
		default:
			for j := range row {
				row[j] *= beta
			}
		}
	}
}

// gemmScratch is one goroutine's packing memory, reused across calls.
type gemmScratch struct {
	a     []float32                // packed MC×KC block of A: MR-row micro-panels
	edgeA [gemmMR * gemmKC]float32 // partial bottom panel of an A read in place
	edgeB [gemmKC * gemmNR]float32 // partial right panel of a B read in place
	tile  [gemmMR * gemmNR]float32 // edge tiles are computed here
}

// The packing memory lives in free lists rather than sync.Pools, which the
// GC empties: a training step must not reallocate megabytes after a
// collection. The lists hold as many buffers as calls and threads have ever
// run at once, a few MiB on this backend.
var (
	gemmScratchFree freeList[gemmScratch]
	gemmPanelFree   freeList[[]float32] // packed B, shared by the threads of one call
)

// getScratch returns a goroutine's scratch for the length of one block.
func getScratch() *gemmScratch {
	if s := gemmScratchFree.get(); s != nil {
		return s
	}
	return &gemmScratch{a: make([]float32, gemmMC*gemmKC)}
}

// getPanelB returns a buffer of at least size floats for packed B.
func getPanelB(size int) *[]float32 {
	if v := gemmPanelFree.get(); v != nil && len(*v) >= size {
		return v
	}
	buf := make([]float32, size)
	return &buf
}

// freeList is a mutex-guarded stack of reusable buffers.
type freeList[T any] struct {
	mu    sync.Mutex
	items []*T
}

// get pops a buffer, or returns nil when the list is empty.
func (f *freeList[T]) get() *T {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := len(f.items)
	if n == 0 {
		return nil
	}
	x := f.items[n-1]
	f.items = f.items[:n-1]
	return x
}

func (f *freeList[T]) put(x *T) {
	f.mu.Lock()
	f.items = append(f.items, x)
	f.mu.Unlock()
}

// packPanelA packs rows [i, i+MR) (zero past m) and depth [p0, p0+kc) of
// op(A) into d, in the layout panelA describes: MR rows of kc floats when A
// is stored m×k (a row copy), kc groups of MR floats when stored k×m.
func (g *gemmOp) packPanelA(d []float32, i, p0, kc int) {
	mr := min(gemmMR, g.m-i)
	d = d[:gemmMR*kc]
	if !g.transA {
		for r := range mr {
			copy(d[r*kc:(r+1)*kc], g.a[(i+r)*g.lda+p0:])
		}
		clear(d[mr*kc:])
		return
	}
	if mr < gemmMR {
		clear(d)
	}
	for p := range kc {
		copy(d[p*gemmMR:p*gemmMR+mr], g.a[(p0+p)*g.lda+i:])
	}
}

// packBlockA packs rows [i0, i0+mc) of op(A) as consecutive MR-row panels
// (see packPanelA). A stored k×m is read row by row across all the panels,
// so each of its kc rows is fetched once rather than once per panel.
func (g *gemmOp) packBlockA(d []float32, i0, mc, p0, kc int) {
	tiles := ceilDiv(mc, gemmMR)
	if !g.transA || mc%gemmMR != 0 {
		for t := range tiles {
			g.packPanelA(d[t*gemmMR*kc:], i0+t*gemmMR, p0, kc)
		}
		return
	}
	for p := range kc {
		src := g.a[(p0+p)*g.lda+i0:][:mc]
		for t := range tiles {
			*(*[gemmMR]float32)(d[(t*kc+p)*gemmMR:]) = *(*[gemmMR]float32)(src[t*gemmMR:])
		}
	}
}

// packPanelB packs columns [j, j+NR) (zero past n) and depth [p0, p0+kc) of
// op(B) into d as kc rows of NR floats.
func (g *gemmOp) packPanelB(d []float32, j, p0, kc int) {
	nr := min(gemmNR, g.n-j)
	d = d[:kc*gemmNR]
	switch {
	case g.transB && nr == gemmNR:
		g.packBT(d, g.b[j*g.ldb+p0:], g.ldb, kc)
	case !g.transB && nr == gemmNR:
		for p := range kc {
			*(*[gemmNR]float32)(d[p*gemmNR:]) = *(*[gemmNR]float32)(g.b[(p0+p)*g.ldb+j:])
		}
	case g.transB:
		clear(d)
		for c := range nr {
			for p, v := range g.b[(j+c)*g.ldb+p0:][:kc] {
				d[p*gemmNR+c] = v
			}
		}
	default:
		clear(d)
		for p := range kc {
			copy(d[p*gemmNR:p*gemmNR+nr], g.b[(p0+p)*g.ldb+j:])
		}
	}
}

// packBTGo transposes 16 rows of b (stride ldb), kc columns long, into d as
// kc rows of 16 floats, four rows at a time.
func packBTGo(d, b []float32, ldb, kc int) {
	for j := 0; j < gemmNR; j += 4 {
		r0 := b[j*ldb:][:kc]
		r1 := b[(j+1)*ldb:][:kc]
		r2 := b[(j+2)*ldb:][:kc]
		r3 := b[(j+3)*ldb:][:kc]
		for p := range r0 {
			q := (*[4]float32)(d[p*gemmNR+j:])
			q[0], q[1], q[2], q[3] = r0[p], r1[p], r2[p], r3[p]
		}
	}
}

// sgemmKernelGo is the portable micro-kernel: it walks the tile in 2×4 blocks
// whose accumulators fit in registers on every 64-bit target.
func sgemmKernelGo(kc int, a []float32, rsa, csa int, b []float32, ldb int, c []float32, ldc int, alpha, beta float32) {
	_ = a[(gemmMR-1)*rsa+(kc-1)*csa]
	_ = b[(kc-1)*ldb+gemmNR-1]
	_ = c[(gemmMR-1)*ldc+gemmNR-1]
	for i := 0; i < gemmMR; i += 2 {
		for j := 0; j < gemmNR; j += 4 {
			var c00, c01, c02, c03, c10, c11, c12, c13 float32
			ai, bj := i*rsa, j
			for range kc {
				a0, a1 := a[ai], a[ai+rsa]
				bq := (*[4]float32)(b[bj:])
				b0, b1, b2, b3 := bq[0], bq[1], bq[2], bq[3]
				c00 += a0 * b0
				c01 += a0 * b1
				c02 += a0 * b2
				c03 += a0 * b3
				c10 += a1 * b0
				c11 += a1 * b1
				c12 += a1 * b2
				c13 += a1 * b3
				ai += csa
				bj += ldb
			}
			storeRow4(c[i*ldc+j:], alpha, beta, c00, c01, c02, c03)
			storeRow4(c[(i+1)*ldc+j:], alpha, beta, c10, c11, c12, c13)
		}
	}
}

// storeRow4 sets c[0:4] = alpha·v + beta·c[0:4]; beta == 0 does not read c.
func storeRow4(c []float32, alpha, beta float32, v0, v1, v2, v3 float32) {
	q := (*[4]float32)(c)
	if beta == 0 {
		q[0], q[1], q[2], q[3] = alpha*v0, alpha*v1, alpha*v2, alpha*v3
		return
	}
	q[0] = alpha*v0 + beta*q[0]
	q[1] = alpha*v1 + beta*q[1]
	q[2] = alpha*v2 + beta*q[2]
	q[3] = alpha*v3 + beta*q[3]
}
