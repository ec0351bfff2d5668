package cpu

import (
	"fmt"
	"sync"
)

// The GEMM is the GotoBLAS/BLIS loop nest:
//
//	for jc over n in NC columns          C block (m×NC) and packed B (KC×NC) live in L3
//	  for pc over k in KC steps          pack B[pc:pc+KC, jc:jc+NC]
//	    for ic over this thread's rows   pack A[ic:ic+MC, pc:pc+KC]  (MC×KC in L2)
//	      for jr over NR-column panels   one KC×NR panel of B stays in L1
//	        for ir over MR-row panels    micro-kernel: MR×NR tile of C in registers
//
// The micro-kernel reads A and B through strides, so an operand small enough
// to stay in cache is read in place instead of packed (only partial edge
// panels are copied, zero-padded, to scratch), which keeps small GEMMs cheap.
// B stored transposed is always packed, by an 8×8 transpose on amd64.
//
// Threads run the nest together when C has a few MR-row tiles per thread:
// each (jc, pc) step's B is packed once, into a buffer they share, and the
// pack groups and MC-row chunks are claimed one at a time by whichever
// thread is free (gemm_shared.go). With fewer rows, each thread runs the
// whole nest on its own NR-column panels, packing its own A and B, so a call
// forks and joins once. Every tile of C is computed by the same kernel with
// the same KC-blocked summation order whatever the thread count: results are
// bit-identical run after run and across thread counts (the bits depend on
// the kernel, whose tile and KC differ).
//
// The tile, the blocking and the packers belong to the micro-kernel
// (gemmImpl). gemmImpls lists the ones this CPU can run, best first; the
// choice is made once, at init, in gemm_amd64.go (AVX-512 > AVX2/FMA > Go).
const (
	// gemmInPlaceA and gemmInPlaceB are the sizes in floats up to which an
	// operand is read in place rather than packed. A read in place is MR
	// row streams, which are slow unless they sit in L1; B read in place is
	// one or two 64-byte lines per k step, fine from L2.
	gemmInPlaceA = 4 << 10
	gemmInPlaceB = 32 << 10
	// gemmSerialFlops is the size below which a GEMM runs on one thread: the
	// fork-join of the pool costs a microsecond or more. A GEMM with B
	// packed by PackB (a decode step's weights) of at least gemmSplitB
	// floats is split all the same: a few rows against it are a stream of
	// B from L3 or memory, which two cores read faster than one.
	gemmSerialFlops = 1 << 22
	gemmSplitB      = 32 << 10
)

// gemmKernel computes tiles MR×NR tiles stacked down C (the ir loop of the
// nest, so it runs without returning to Go): tile t is C = alpha·A·B + beta·C
// with A[i][p] = a[t·tsa + i·rsa + p·csa] (MR×kc), B[p][j] = b[p·ldb + j]
// (kc×NR, the same for every tile) and C[i][j] = c[(t·MR+i)·ldc + j].
// beta == 0 does not read C. tiles, kc >= 1.
type gemmKernel func(tiles, kc int, a []float32, rsa, csa, tsa int, b []float32, ldb int, c []float32, ldc int, alpha, beta float32)

// halfKernels are a float32 kernel's tile and edge rows (kern and rows)
// over B of half values, widened exactly as they are loaded: the bits the
// float32 ones give over the widened B. Weights packed in their half type
// (PackBHalf) are read by them in place, half the bytes of float32.
type halfKernels struct {
	// rows may be nil: edge tiles then run kern into a tile.
	kern func(tiles, kc int, a []float32, rsa, csa, tsa int, b []uint16, ldb int, c []float32, ldc int, alpha, beta float32)
	rows func(n, kc int, a []float32, csa int, b []uint16, ldb int, c []float32, ldc int, alpha float32)
	// once may be nil: gemmImpl.once over B of the half type.
	once func(n, kc int, a []float32, b []uint16, ldb int, c []float32, ldc int, alpha float32)
}

// gemmImpl is one micro-kernel with the register tile, the blocking and the
// packers that go with it.
type gemmImpl struct {
	name   string
	mr, nr int // register tile: MR rows by NR columns of C
	// kc is the depth of one panel pair: a KC×NR panel of B stays in L1
	// while MR×KC panels of A stream from L2. It also fixes where partial
	// sums are rounded into C, so it must not depend on the thread count.
	kc int
	mc int // MC×KC floats of packed A stay in L2; a multiple of mr
	// nc bounds the block of C that every KC step reads and writes again
	// (m×NC floats, in L3) beside KC×NC floats of packed B; a multiple of nr.
	nc int
	// kmajorA: the kernel takes only rsa == 1 (A read k-major, as packed),
	// so A stored m×k is always packed.
	kmajorA bool
	// pairs: the kernel takes bf16 operands packed in k-pairs, two values
	// in each 32-bit slot of the packed panels (gemm_bf16.go), and kc
	// counts values, not pairs. Its packers are packBlockAPairs and
	// packPanelsBPairs; the float32 ones below are unused.
	pairs bool
	kern  gemmKernel
	// rows, when not nil, computes the first n < MR rows of an edge tile,
	// alpha·A·B with A k-major, into c: the bits kern gives for those rows,
	// for n rows' work instead of MR (decoding multiplies a few rows).
	rows func(n, kc int, a []float32, csa int, b []float32, ldb int, c []float32, ldc int, alpha float32)
	// rows2pair, when not nil, is rows for n = 2 over two neighbouring
	// panels of B at once, the second panel floats past the first (the
	// columns of both, 2·NR, in each row of c): a 2-row edge is a few FMA
	// chains, which wait on their latency unless two panels share a pass.
	rows2pair func(kc int, a []float32, csa int, b []float32, ldb, panel int, c []float32, ldc int, alpha float32)
	// once, when not nil, computes n rows (onceMin ≤ n ≤ onceMax) of
	// alpha·A·B against one NR-column panel of B, each row of B read once,
	// into c (onceStride(n) rows of NR, ldc apart): the bits kern gives
	// for those rows. A is k-major, onceStride(n) floats a step (packOnce),
	// zero past n. It is for the few rows of a decoding step, whose weights
	// (packed once, PackB) stream from L3 or memory: the 14-row tile and its
	// edge read each panel twice, groups of 4 rows once per group.
	once func(n, kc int, a []float32, b []float32, ldb int, c []float32, ldc int, alpha float32)
	// packOnce packs rows [0, rows) of A stored m×k (stride lda), kc
	// long, k-major with stride floats a step; rows past them are zero.
	packOnce func(d, a []float32, lda, rows, kc, stride int)
	// packAN interleaves mr rows of A (stride lda), kc long, into kc groups
	// of mr floats; d has gemmPackSlack floats of room past them.
	packAN func(d, a []float32, lda, kc int)
	// packAT copies tiles runs of mr columns of A stored k×m (stride lda),
	// kc rows, to tiles k-major panels, panel t at d[t·kc·mr:].
	packAT func(d, a []float32, lda, kc, tiles int)
	// packBT transposes nr rows of B stored n×k (stride ldb), kc long, into
	// kc rows of nr floats.
	packBT func(d, b []float32, ldb, kc int)
	// halfF16 and halfBF16, when not nil, are kern and rows over B of fp16
	// or bf16 values (weights packed in their half type: PackBHalf).
	halfF16, halfBF16 *halfKernels
}

// gemmGo is the portable kernel and packers, on every target.
var gemmGo = &gemmImpl{
	name: "go", mr: gemmMR, nr: gemmNR, kc: 256, mc: 144, nc: 1024,
	kern: sgemmKernelGo, packAN: packA6Go, packAT: packATGo, packBT: packBTGo,
}

// gemmImpls lists the kernels this CPU runs, best first; sgemmImpl is the one
// sgemm uses. Both are set once by init (gemm_amd64.go); tests swap sgemmImpl
// to run every entry.
var (
	gemmImpls = []*gemmImpl{gemmGo}
	sgemmImpl = gemmGo
)

// The portable kernel's tile (gemmGo.mr × gemmGo.nr), which the AVX2 kernel
// shares.
const (
	gemmMR = 6
	gemmNR = 16
)

// gemmPackSlack is the room packing buffers leave past their end for
// packA6AVX2's overlapping stores.
const gemmPackSlack = 2

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
		a: a, lda: lda, b: b, ldb: ldb, beta: beta, c: c, ldc: ldc, gemmImpl: sgemmImpl}
	g.run(p)
}

// run computes the product g holds (m, n >= 1) on up to p.threads threads.
func (g *gemmCall) run(p *pool) {
	g.check()
	if g.k <= 0 || g.alpha == 0 {
		scaleMatrix(g.c, g.m, g.n, g.ldc, g.beta)
		return
	}
	im := g.gemmImpl
	m, n, k := g.m, g.n, g.k
	// An operand is packed when it is large and reused by more than two
	// panels of the other; B stored transposed must be packed, and so must
	// A stored m×k when the kernel reads A k-major only. Half operands are
	// always packed: the packers widen them.
	g.packA = (m*k > gemmInPlaceA && n > 2*im.nr) || (im.kmajorA && !g.transA) || g.half() || im.pairs
	g.packB = g.transB || (k*n > gemmInPlaceB && m > 2*im.mr) || g.half() || im.pairs
	if g.prepacked() {
		g.packB = false
	}
	threads := p.threads
	if 2*m*n*k < gemmSerialFlops && (!g.prepacked() || k*n < gemmSplitB) {
		threads = 1
	}
	// Threads with a few row tiles each share the nest (gemm_shared.go);
	// with fewer rows each runs it on its own NR-column panels, packing
	// all of A.
	if tilesM := ceilDiv(m, im.mr); threads > 1 && tilesM >= 4*threads {
		g.shared(p, threads)
		return
	}
	forThreads(p, threads, ceilDiv(n, im.nr), g.colsFn)
}

// gemmOp holds the operands of one sgemm or hgemm call. A half call
// (halves set) holds A and B as ha and hb, the bits of half values, and a
// and b are nil; widen converts them to float32 for a float32 kernel. In a
// rounding call (GemmRounded) an operand may instead be float32 values, ra
// or rb, that round rounds to the half type and widens back as it packs.
type gemmOp struct {
	transA, transB bool
	m, n, k        int
	alpha, beta    float32
	a, b, c        []float32
	halves         bool
	ha, hb         []uint16
	widen          func(dst []float32, src []uint16) // half → float32, exact
	ra, rb         []float32
	round          func(dst, src []float32) // float32 → half → float32
	lda, ldb, ldc  int
	packA, packB   bool
	// pre, when not nil, is B packed once by PackB (packedB's layout),
	// read in place instead of b; preh, when not nil, the same panels of
	// half values (PackBHalf), which hk's kernels read in place.
	pre       []float32
	preh      []uint16
	hk        *halfKernels
	*gemmImpl // the kernel, its tile, blocking and packers
}

// prepacked reports whether B was packed once for many calls.
func (g *gemmOp) prepacked() bool { return g.pre != nil || g.preh != nil }

// half reports whether A and B are half values.
func (g *gemmOp) half() bool { return g.halves }

// check panics when a slice is too short or a leading dimension too small:
// both are programmer errors in the caller.
func (g *gemmOp) check() {
	ar, ac := stored(g.transA, g.m, g.k)
	br, bc := stored(g.transB, g.k, g.n)
	need := func(name string, n, rows, cols, ld int) {
		if ld < max(cols, 1) {
			panic(fmt.Sprintf("cpu: sgemm: ld%s = %d < %d columns", name, ld, cols))
		}
		if rows > 0 && cols > 0 && n < (rows-1)*ld+cols {
			panic(fmt.Sprintf("cpu: sgemm: len(%s) = %d < %d for %d×%d with ld %d", name, n, (rows-1)*ld+cols, rows, cols, ld))
		}
	}
	la, lb := len(g.a), len(g.b)
	if g.half() {
		la, lb = len(g.ha), len(g.hb)
		if g.ra != nil {
			la = len(g.ra)
		}
		if g.rb != nil {
			lb = len(g.rb)
		}
	}
	need("a", la, ar, ac, g.lda)
	if g.prepacked() {
		l := len(g.pre)
		if g.preh != nil {
			l = len(g.preh)
		}
		need("packed b", l, 1, ceilDiv(g.n, g.nr)*g.nr*g.k, ceilDiv(g.n, g.nr)*g.nr*g.k)
	} else {
		need("b", lb, br, bc, g.ldb)
	}
	need("c", len(g.c), g.m, g.n, g.ldc)
}

// gemmCall is one sgemm in flight: its operands and the loop bodies it hands
// to the pool, bound once per gemmCall so that a call allocates nothing.
type gemmCall struct {
	gemmOp
	colsFn   func(lo, hi int)  // part over NR-column panels
	sharedFn func(w, _, _ int) // work, on thread w
	sh       gemmShared        // the schedule of a shared call
}

var gemmCallFree freeList[gemmCall]

func getCall() *gemmCall {
	if g := gemmCallFree.get(); g != nil {
		return g
	}
	g := &gemmCall{}
	g.colsFn = func(lo, hi int) { g.part(0, g.m, lo*g.nr, min(hi*g.nr, g.n)) }
	g.sharedFn = func(w, _, _ int) { g.work(w) }
	g.sh.cond.L = &g.sh.mu
	return g
}

// release drops the caller's slices and returns g to the free list.
func (g *gemmCall) release() {
	g.gemmOp = gemmOp{}
	gemmCallFree.put(g)
}

// part computes C[i0:i1, j0:j1] (i0 a multiple of MR, j0 of NR): the whole
// loop nest, packing its own panels of A and B into this goroutine's
// scratch. One thread runs one part; threads that split C by columns run
// one part each.
//
// The n and k ranges are cut into equal blocks of at most NC and KC, so no
// step is left with a sliver: k = 257 runs as 129 + 128, not 256 + 1. The KC
// blocks depend on k alone, never on the split.
func (g *gemmOp) part(i0, i1, j0, j1 int) {
	s := getScratch(g.gemmImpl)
	defer gemmScratchFree.put(s)
	ncMax := roundUp(ceilDiv(j1-j0, ceilDiv(j1-j0, g.nc)), g.nr)
	kcMax := ceilDiv(g.k, ceilDiv(g.k, g.kc))
	for jc := j0; jc < j1; jc += ncMax {
		panels := ceilDiv(min(ncMax, j1-jc), g.nr)
		beta := g.beta
		for pc := 0; pc < g.k; pc += kcMax {
			st := gemmStep{pc: pc, kc: min(kcMax, g.k-pc), jc: jc, beta: beta}
			st.kd = st.kc
			if g.pairs {
				st.kd = ceilDiv(st.kc, 2)
			}
			if g.packB {
				st.bp = s.b[:panels*g.nr*st.kd]
				g.packPanelsB(&st, s.stage, panels)
			}
			g.block(&st, s, i0, i1, panels)
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
// B[pc:pc+kc, jc:jc+NC] as kd×NR panels. kd is the kernel's depth: kc, or
// ceil(kc/2) for a kernel that takes k in pairs. beta is the caller's for
// the first KC step and 1 after.
type gemmStep struct {
	bp             []float32
	pc, kc, kd, jc int
	beta           float32
}

// block computes rows [i0,i1) of C against the first panels NR-column
// panels of step st, packing A in MC-row chunks into s. i0 is a multiple of
// MR.
func (g *gemmOp) block(st *gemmStep, s *gemmScratch, i0, i1, panels int) {
	if g.preh != nil {
		g.blockHalf(st, s, i0, i1, panels)
		return
	}
	if rows := min(i1, g.m) - i0; g.once != nil && g.pre != nil && g.takesOnce(rows) {
		g.blockOnce(st, s, i0, rows, panels, func(a []float32, jp, j int) {
			b, ldb := g.panelB(st, s, jp, j)
			g.once(rows, st.kd, a, b, ldb, s.tile, g.nr, g.alpha)
		})
		return
	}
	for ic := i0; ic < i1; ic += g.mc {
		tiles, full := g.chunkA(st, s, ic, i1)
		// The last tile's rows when it is a 2-row edge, which two full
		// panels then compute together (rows2pair).
		last := ic + (tiles-1)*g.mr
		pairs := g.rows2pair != nil && full == tiles-1 && g.m-last == 2
		for jp := 0; jp < panels; jp++ {
			j := st.jc + jp*g.nr
			b, ldb, t := g.fullTiles(st, s, ic, full, jp, j)
			if pairs && t == full && jp+1 < panels && j+2*g.nr <= g.n {
				if a, rsa, csa, _ := g.panelA(st, s, full, last); rsa == 1 {
					g.fullTiles(st, s, ic, full, jp+1, j+g.nr)
					s.edgePair(g, st, a, csa, b, ldb, g.panelStep(st), last, j)
					jp++
					continue
				}
			}
			for ; t < tiles; t++ {
				i := ic + t*g.mr
				a, rsa, csa, _ := g.panelA(st, s, t, i)
				s.edge(g, st, a, rsa, csa, b, ldb, i, j)
			}
		}
	}
}

// The rows a step's products take through gemmImpl.once: fewer go through
// the row kernels, which are as fast there; more through the tiles.
const (
	onceMin = 5
	onceMax = 12
)

// onceStride is the floats a k-step of A packed for gemmImpl.once holds
// for n rows.
func onceStride(n int) int {
	if n <= 8 {
		return 8
	}
	return 12
}

// takesOnce reports whether rows rows of A (all of a product's, with B
// packed once) go through the one-pass row kernels.
func (g *gemmOp) takesOnce(rows int) bool {
	return g.a != nil && rows >= onceMin && rows <= onceMax
}

// blockOnce is block for the rows [i0, i0+rows) through the one-pass row
// kernels: A packed once for them (packOnceA), then for each panel jp
// (columns from j) once computes the rows into s.tile, which goes into C.
func (g *gemmOp) blockOnce(st *gemmStep, s *gemmScratch, i0, rows, panels int, once func(a []float32, jp, j int)) {
	a := g.packOnceA(st, s, i0, rows)
	for jp := range panels {
		j := st.jc + jp*g.nr
		once(a, jp, j)
		g.putTile(st, s.tile, rows, i0, j)
	}
}

// byRowKernels reports whether an edge tile of rows rows (< MR) runs as
// row kernels, in groups of 4, 2 and 1, rather than as the whole tile: up
// to onceMax rows (13 of the 14-row tile would be four groups, four reads
// of the panel).
func (g *gemmOp) byRowKernels(rows int) bool { return rows < min(g.mr, onceMax+1) }

// packOnceA packs the rows [i0, i0+rows) of A at depth st for the one-pass
// row kernels, k-major (packOnce, or copied when A is stored k×m), into s.
func (g *gemmOp) packOnceA(st *gemmStep, s *gemmScratch, i0, rows int) []float32 {
	stride := onceStride(rows)
	a := s.a[:st.kc*stride]
	if g.transA {
		for p := range st.kc {
			d := a[p*stride : (p+1)*stride]
			copy(d, g.a[(st.pc+p)*g.lda+i0:][:rows])
			clear(d[rows:])
		}
	} else {
		g.packOnce(a, g.a[i0*g.lda+st.pc:], g.lda, rows, st.kc, stride)
	}
	return a
}

// packOnceGo packs what packOnce packs but the first r0 rows' first k0
// steps (the caller's), zeroing the rows past rows.
func packOnceGo(d, a []float32, lda, rows, kc, stride, k0, r0 int) {
	for p := range kc {
		r := r0
		if p >= k0 {
			r = 0
		}
		for ; r < rows; r++ {
			d[p*stride+r] = a[r*lda+p]
		}
		clear(d[p*stride+rows : (p+1)*stride])
	}
}

// chunkA readies A for the MC-row chunk at row ic (of rows up to i1):
// packed into s, or its partial bottom panel when A is read in place. It
// returns the chunk's tiles and how many of them lie wholly inside C.
func (g *gemmOp) chunkA(st *gemmStep, s *gemmScratch, ic, i1 int) (tiles, full int) {
	mc := min(g.mc, i1-ic)
	tiles = ceilDiv(mc, g.mr)
	if g.packA {
		g.packBlockA(s.a, s.stage, ic, mc, st.pc, st.kc)
	} else if last := ic + (tiles-1)*g.mr; g.m-last < g.mr {
		g.packPanelA(s.edgeA, last, st.pc, st.kc)
	}
	full = tiles
	if ic+tiles*g.mr > g.m {
		full--
	}
	return tiles, full
}

// blockHalf is block for B packed in a half type (preh) whose kernels read
// it in place (hk): each panel's full tiles, then its edge rows.
func (g *gemmOp) blockHalf(st *gemmStep, s *gemmScratch, i0, i1, panels int) {
	if rows := min(i1, g.m) - i0; g.hk.once != nil && g.takesOnce(rows) {
		g.blockOnce(st, s, i0, rows, panels, func(a []float32, _, j int) {
			g.hk.once(rows, st.kd, a, g.preh[j*g.k+st.pc*g.nr:], g.nr, s.tile, g.nr, g.alpha)
		})
		return
	}
	for ic := i0; ic < i1; ic += g.mc {
		tiles, full := g.chunkA(st, s, ic, i1)
		for jp := range panels {
			j := st.jc + jp*g.nr
			b, t := g.preh[j*g.k+st.pc*g.nr:], 0
			if j+g.nr <= g.n && full > 0 {
				a, rsa, csa, tsa := g.panelA(st, s, 0, ic)
				g.hk.kern(full, st.kd, a, rsa, csa, tsa, b, g.nr, g.c[ic*g.ldc+j:], g.ldc, g.alpha, st.beta)
				t = full
			}
			for ; t < tiles; t++ {
				i := ic + t*g.mr
				a, rsa, csa, _ := g.panelA(st, s, t, i)
				rows := min(g.mr, g.m-i)
				if g.hk.rows != nil && rsa == 1 && g.byRowKernels(rows) {
					g.hk.rows(rows, st.kd, a, csa, b, g.nr, s.tile, g.nr, g.alpha)
				} else {
					g.hk.kern(1, st.kd, a, rsa, csa, 0, b, g.nr, s.tile, g.nr, g.alpha, 0)
				}
				g.putTile(st, s.tile, rows, i, j)
			}
		}
	}
}

// fullTiles computes the full tiles of the MC chunk at row ic (full of
// them) against panel jp (columns [j, j+NR)) when the panel is whole, and
// returns the panel and the tiles done.
func (g *gemmOp) fullTiles(st *gemmStep, s *gemmScratch, ic, full, jp, j int) (b []float32, ldb, done int) {
	b, ldb = g.panelB(st, s, jp, j)
	if j+g.nr <= g.n && full > 0 {
		a, rsa, csa, tsa := g.panelA(st, s, 0, ic)
		g.kern(full, st.kd, a, rsa, csa, tsa, b, ldb, g.c[ic*g.ldc+j:], g.ldc, g.alpha, st.beta)
		done = full
	}
	return b, ldb, done
}

// panelStep is the distance in floats between whole neighbouring panels of
// B as panelB returns them.
func (g *gemmOp) panelStep(st *gemmStep) int {
	switch {
	case g.pre != nil:
		return g.nr * g.k
	case g.packB:
		return g.nr * st.kd
	}
	return g.nr
}

// panelA returns the kc×MR micro-panel of A for rows [i, i+MR), the t-th of
// the current MC chunk, its strides and the stride to the next tile's panel.
// Packed panels are k-major (MR floats per k step): the kernel then streams A
// as one sequence, which is markedly faster from L2 than six row streams.
func (g *gemmOp) panelA(st *gemmStep, s *gemmScratch, t, i int) (a []float32, rsa, csa, tsa int) {
	switch {
	case g.packA:
		return s.a[t*g.mr*st.kd:], 1, g.mr, g.mr * st.kd
	case i+g.mr > g.m:
		return s.edgeA, 1, g.mr, 0
	case g.transA:
		return g.a[st.pc*g.lda+i:], 1, g.lda, g.mr
	default:
		return g.a[i*g.lda+st.pc:], g.lda, 1, g.mr * g.lda
	}
}

// panelB returns the kc×NR micro-panel jp of B (columns [j, j+NR)) and its
// row stride.
func (g *gemmOp) panelB(st *gemmStep, s *gemmScratch, jp, j int) ([]float32, int) {
	switch {
	case g.pre != nil:
		return g.pre[j*g.k+st.pc*g.nr:], g.nr
	case g.packB:
		return st.bp[jp*g.nr*st.kd:], g.nr
	case j+g.nr > g.n:
		g.packPanelB(s.edgeB, j, st.pc, st.kc)
		return s.edgeB, g.nr
	default:
		return g.b[st.pc*g.ldb+j:], g.ldb
	}
}

// edge computes a partial tile at (i, j) through the scratch tile, so the
// kernel never touches C outside the matrix: by the row kernels or the
// whole tile (byRowKernels).
func (s *gemmScratch) edge(g *gemmOp, st *gemmStep, a []float32, rsa, csa int, b []float32, ldb, i, j int) {
	rows := min(g.mr, g.m-i)
	if g.rows != nil && g.byRowKernels(rows) && rsa == 1 {
		g.rows(rows, st.kd, a, csa, b, ldb, s.tile, g.nr, g.alpha)
	} else {
		g.kern(1, st.kd, a, rsa, csa, 0, b, ldb, s.tile, g.nr, g.alpha, 0)
	}
	g.putTile(st, s.tile, rows, i, j)
}

// putTile puts the first rows of an edge tile computed into tile (rows NR
// apart) into C at (i, j), as much of them as lies inside C.
func (g *gemmOp) putTile(st *gemmStep, tile []float32, rows, i, j int) {
	nr := min(g.nr, g.n-j)
	for r := range rows {
		putRow(g.c[(i+r)*g.ldc+j:][:nr], tile[r*g.nr:], st.beta)
	}
}

// putRow sets row = t + beta·row (row = t when beta is 0, not reading row).
func putRow(row, t []float32, beta float32) {
	t = t[:len(row)]
	if beta == 0 {
		copy(row, t)
		return
	}
	for x := range row {
		row[x] = beta*row[x] + t[x]
	}
}

// edgePair computes the 2-row edge at (i, j) of two whole neighbouring
// panels, the first at b and the second panel floats past it, through the
// scratch tile (rows2pair), into C's 2·NR columns from j.
func (s *gemmScratch) edgePair(g *gemmOp, st *gemmStep, a []float32, csa int, b []float32, ldb, panel, i, j int) {
	w := 2 * g.nr
	g.rows2pair(st.kd, a, csa, b, ldb, panel, s.tile, w, g.alpha)
	for r := range 2 {
		putRow(g.c[(i+r)*g.ldc+j:][:w], s.tile[r*w:], st.beta)
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
	a     []float32 // packed MC×KC block of A: MR-row micro-panels
	b     []float32 // packed KC×NC block of B: NR-column micro-panels
	edgeA []float32 // partial bottom panel of an A read in place
	edgeB []float32 // partial right panel of a B read in place
	tile  []float32 // edge tiles are computed here
	// stage holds half values widened before they are packed: a panel's
	// rows, or one row of a block (see gemm_half.go).
	stage []float32
}

// The packing memory lives in a free list rather than a sync.Pool, which
// the GC empties: a training step must not reallocate a megabyte after a
// collection. The list holds as many scratches as threads have ever run
// sgemm at once, about 2.7 MiB each with the AVX-512 kernel (1.2 MiB with
// the others).
var gemmScratchFree freeList[gemmScratch]

// getScratch returns a goroutine's scratch, large enough for im, for the
// length of one part.
func getScratch(im *gemmImpl) *gemmScratch {
	s := gemmScratchFree.get()
	if s == nil {
		s = &gemmScratch{}
	}
	grow := func(x *[]float32, n int) {
		if len(*x) < n {
			*x = make([]float32, n)
		}
	}
	grow(&s.a, im.mc*im.kc+gemmPackSlack)
	grow(&s.b, im.kc*im.nc)
	grow(&s.edgeA, im.mr*im.kc+gemmPackSlack)
	grow(&s.edgeB, im.kc*im.nr)
	grow(&s.tile, max(im.mr, onceMax)*im.nr)
	grow(&s.stage, max(im.mr*im.kc, im.nr*im.kc, im.mc, im.nc))
	return s
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
// op(A) into d as kc groups of MR floats. d has gemmPackSlack floats of room
// past the panel.
func (g *gemmOp) packPanelA(d []float32, i, p0, kc int) {
	mr := min(g.mr, g.m-i)
	switch {
	case !g.transA && mr == g.mr:
		g.packAN(d, g.a[i*g.lda+p0:], g.lda, kc)
	case !g.transA:
		clear(d[:g.mr*kc])
		for r := range mr {
			for p, v := range g.a[(i+r)*g.lda+p0:][:kc] {
				d[p*g.mr+r] = v
			}
		}
	default:
		if mr < g.mr {
			clear(d[:g.mr*kc])
		}
		for p := range kc {
			copy(d[p*g.mr:p*g.mr+mr], g.a[(p0+p)*g.lda+i:])
		}
	}
}

// packA6Go interleaves six rows of a (stride lda), kc columns long, into d
// as kc groups of six floats.
func packA6Go(d, a []float32, lda, kc int) {
	r0 := a[:kc]
	r1 := a[lda:][:kc]
	r2 := a[2*lda:][:kc]
	r3 := a[3*lda:][:kc]
	r4 := a[4*lda:][:kc]
	r5 := a[5*lda:][:kc]
	for p := range r0 {
		q := (*[gemmMR]float32)(d[p*gemmMR:])
		q[0], q[1], q[2], q[3], q[4], q[5] = r0[p], r1[p], r2[p], r3[p], r4[p], r5[p]
	}
}

// packRowsGo interleaves mr rows of a (stride lda), kc columns long, into d
// as kc groups of mr floats: the tail of the assembly packers, whatever the
// tile.
func packRowsGo(d, a []float32, lda, kc, mr int) {
	for r := range mr {
		for p, v := range a[r*lda:][:kc] {
			d[p*mr+r] = v
		}
	}
}

// packBlockA packs rows [i0, i0+mc) of op(A) as consecutive MR-row panels
// (see packPanelA); A stored k×m goes through packAT. Half values are
// widened through stage (packBlockAHalf).
func (g *gemmOp) packBlockA(d, stage []float32, i0, mc, p0, kc int) {
	switch {
	case g.pairs:
		g.packBlockAPairs(d, i0, mc, p0, kc)
		return
	case g.half():
		g.packBlockAHalf(d, stage, i0, mc, p0, kc)
		return
	}
	tiles := ceilDiv(mc, g.mr)
	if !g.transA || mc%g.mr != 0 {
		for t := range tiles {
			g.packPanelA(d[t*g.mr*kc:], i0+t*g.mr, p0, kc)
		}
		return
	}
	g.packAT(d, g.a[p0*g.lda+i0:], g.lda, kc, tiles)
}

// packATGo packs tiles 6-column runs of a (stored k×m, stride lda), kc rows
// long, into tiles k-major panels of d, panel t at d[t·kc·6:]. It reads
// eight rows at a time across all the runs, so each row is fetched once
// rather than once per panel, and each panel receives 8·6 floats (three
// whole cache lines) at a time.
func packATGo(d, a []float32, lda, kc, tiles int) {
	packATRows(d, a, lda, kc, tiles, kc)
}

// packATRows is packATGo for rows [0, rows) of panels that are stride rows
// long.
func packATRows(d, a []float32, lda, rows, tiles, stride int) {
	for p := 0; p < rows; p += 8 {
		for t := range tiles {
			dt := d[(t*stride+p)*gemmMR:]
			for q := range min(8, rows-p) {
				// Through a local: a direct array copy between two slices
				// may overlap, so the compiler would call memmove.
				v := *(*[gemmMR]float32)(a[(p+q)*lda+t*gemmMR:])
				*(*[gemmMR]float32)(dt[q*gemmMR:]) = v
			}
		}
	}
}

// packPanelsB packs the first panels NR-column panels of step st into st.bp.
// B stored k×n is copied eight panels at a time, row by row, so each row of B
// is read as one long run instead of 64 or 128 bytes per panel. Half values
// are widened through stage (packPanelsBHalf).
func (g *gemmOp) packPanelsB(st *gemmStep, stage []float32, panels int) {
	switch {
	case g.pairs:
		g.packPanelsBPairs(st, panels)
		return
	case g.half():
		g.packPanelsBHalf(st, stage, panels)
		return
	}
	const group = 8
	kc, nr := st.kc, g.nr
	for jp := 0; jp < panels; {
		j := st.jc + jp*nr
		if g.transB || j+group*nr > g.n || jp+group > panels {
			g.packPanelB(st.bp[jp*nr*kc:], j, st.pc, kc)
			jp++
			continue
		}
		d := st.bp[jp*nr*kc : (jp+group)*nr*kc]
		for p := range kc {
			src := g.b[(st.pc+p)*g.ldb+j:][:group*nr]
			for q := range group {
				copyRow(d[(q*kc+p)*nr:], src[q*nr:], nr)
			}
		}
		jp += group
	}
}

// copyRow copies n floats from src to d (which do not overlap): through
// array values for the tile sizes, since copy calls memmove.
func copyRow(d, src []float32, n int) {
	switch n {
	case 6:
		v := *(*[6]float32)(src)
		*(*[6]float32)(d) = v
	case 14:
		v := *(*[14]float32)(src)
		*(*[14]float32)(d) = v
	case 16:
		v := *(*[16]float32)(src)
		*(*[16]float32)(d) = v
	case 32:
		v := *(*[32]float32)(src)
		*(*[32]float32)(d) = v
	default:
		copy(d[:n], src[:n])
	}
}

// packPanelB packs columns [j, j+NR) (zero past n) and depth [p0, p0+kc) of
// op(B) into d as kc rows of NR floats.
func (g *gemmOp) packPanelB(d []float32, j, p0, kc int) {
	nr := min(g.nr, g.n-j)
	d = d[:kc*g.nr]
	switch {
	case g.transB && nr == g.nr:
		g.packBT(d, g.b[j*g.ldb+p0:], g.ldb, kc)
	case !g.transB && nr == g.nr:
		for p := range kc {
			copyRow(d[p*nr:], g.b[(p0+p)*g.ldb+j:], nr)
		}
	case g.transB:
		clear(d)
		for c := range nr {
			for p, v := range g.b[(j+c)*g.ldb+p0:][:kc] {
				d[p*g.nr+c] = v
			}
		}
	default:
		clear(d)
		for p := range kc {
			copy(d[p*g.nr:p*g.nr+nr], g.b[(p0+p)*g.ldb+j:])
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

// sgemmKernelGo is the portable micro-kernel: it walks each tile in 2×4
// blocks whose accumulators fit in registers on every 64-bit target.
func sgemmKernelGo(tiles, kc int, a []float32, rsa, csa, tsa int, b []float32, ldb int, c []float32, ldc int, alpha, beta float32) {
	for t := range tiles {
		kernelTileGo(kc, a[t*tsa:], rsa, csa, b, ldb, c[t*gemmMR*ldc:], ldc, alpha, beta)
	}
}

func kernelTileGo(kc int, a []float32, rsa, csa int, b []float32, ldb int, c []float32, ldc int, alpha, beta float32) {
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

// GemmKernel names the float32 GEMM micro-kernel this CPU runs ("avx512",
// "avx2" or "go"): what a benchmark reports beside its figures.
func GemmKernel() string { return sgemmImpl.name }
