package bloom

import (
	"math"
	"math/rand/v2"
	"sync"
	"testing"

	"bloom/npu"
	"bloom/npu/cpu"
)

// memTP is an in-process tensor-parallel group: every rank's buffer is
// combined in rank order, so every rank gets the same bits on every run.
type memTP struct {
	mu   sync.Mutex
	size int
	cur  *tpOp
}

type tpOp struct {
	bufs [][]float32
	n    int
	res  []float32
	done chan struct{}
}

type memTPRank struct {
	g    *memTP
	rank int
	dev  npu.Device
}

func newMemTP(devs []npu.Device) []TPComm {
	g := &memTP{size: len(devs)}
	out := make([]TPComm, len(devs))
	for i, d := range devs {
		out[i] = &memTPRank{g: g, rank: i, dev: d}
	}
	return out
}

func (r *memTPRank) reduce(b npu.Buf, f func(acc, x float32) float32) error {
	host := make([]float32, b.Len())
	r.dev.Read(host, b)
	g := r.g
	g.mu.Lock()
	o := g.cur
	if o == nil {
		o = &tpOp{bufs: make([][]float32, g.size), done: make(chan struct{})}
		g.cur = o
	}
	o.bufs[r.rank] = host
	if o.n++; o.n == g.size {
		g.cur = nil
		o.res = append([]float32(nil), o.bufs[0]...)
		for _, x := range o.bufs[1:] {
			for i := range o.res {
				o.res[i] = f(o.res[i], x[i])
			}
		}
		close(o.done)
	}
	g.mu.Unlock()
	<-o.done
	r.dev.Write(b, o.res)
	return nil
}

func (r *memTPRank) AllReduceSum(b npu.Buf) error {
	return r.reduce(b, func(a, x float32) float32 { return a + x })
}

func (r *memTPRank) AllReduceMax(b npu.Buf) error {
	return r.reduce(b, func(a, x float32) float32 { return max(a, x) })
}

// tpConfig has heads and a vocabulary that divide by 2 and 4.
var tpConfig = Config{Vocab: 12, Hidden: 16, Heads: 4, Layers: 2, Eps: 1e-5}

// randomHost returns random parameters for layout l of the full model:
// large enough that every path matters, layer norms around 1.
func randomHost(l *Layout, seed uint64) []float32 {
	r := rand.New(rand.NewPCG(seed, 2))
	host := make([]float32, l.Size)
	for _, tn := range l.Tensors {
		for i := tn.Offset; i < tn.Offset+tn.Size; i++ {
			host[i] = float32(0.3 * r.NormFloat64())
			if isNormWeight(tn.Name) {
				host[i] += 1
			}
		}
	}
	return host
}

// loadPart writes the part's pieces of the full parameters host into m.
func loadPart(m *Model, full *Layout, host []float32) {
	local := make([]float32, m.Layout.Size)
	for _, t := range m.Layout.Tensors {
		g, _ := full.Lookup(t.Name)
		m.Layout.Shard(t, host[g.Offset:g.Offset+g.Size], local[t.Offset:t.Offset+t.Size])
	}
	m.Dev.Write(m.Params, local)
}

// gatherGrads assembles the full gradient from the parts' gradients.
func gatherGrads(parts []*Model, full *Layout) []float32 {
	out := make([]float32, full.Size)
	for _, m := range parts {
		g := make([]float32, m.Layout.Size)
		m.Dev.Read(g, m.Grads)
		for _, t := range m.Layout.Tensors {
			f, _ := full.Lookup(t.Name)
			m.Layout.Unshard(t, g[t.Offset:t.Offset+t.Size], out[f.Offset:f.Offset+f.Size])
		}
	}
	return out
}

// TestTensorParallelStep: TP ranks, each with its heads, vocabulary rows and
// MLP columns, give the loss and (reassembled) gradients of the whole model,
// with left padding and ignored targets. Reduction orders differ (partial
// GEMM sums are added across ranks), so agreement is to float32 rounding:
// 1e-5 relative for the loss and 1e-4 of each tensor's largest gradient, as
// in the golden tests; a missing all-reduce or a wrong slice is off by O(1).
func TestTensorParallelStep(t *testing.T) {
	c := tpConfig
	full := NewLayout(c)
	host := randomHost(full, 7)
	ref, err := New(cpu.New(1), c)
	if err != nil {
		t.Fatal(err)
	}
	ref.Dev.Write(ref.Params, host)
	b := Batch{B: 2, T: 5,
		IDs:     []int32{3, 3, 4, 9, 1, 5, 2, 7, 11, 10},
		Mask:    []int32{0, 0, 1, 1, 1, 1, 1, 1, 1, 1},
		Targets: []int32{npu.IgnoreIndex, npu.IgnoreIndex, 9, 1, npu.IgnoreIndex, 2, 7, 11, 10, npu.IgnoreIndex}}
	ref.ZeroGrads()
	wantLoss, _, err := ref.Step(b, 0.5)
	if err != nil {
		t.Fatal(err)
	}
	want := make([]float32, full.Size)
	ref.Dev.Read(want, ref.Grads)

	for _, tp := range []int{2, 4} {
		devs := make([]npu.Device, tp)
		for i := range devs {
			devs[i] = cpu.New(1)
		}
		comms := newMemTP(devs)
		parts := make([]*Model, tp)
		for r := range parts {
			p := FullPart(c)
			p.TP, p.TPRank = tp, r
			if parts[r], err = NewPart(devs[r], c, p, comms[r]); err != nil {
				t.Fatal(err)
			}
			loadPart(parts[r], full, host)
		}
		losses := make([]float64, tp)
		var wg sync.WaitGroup
		for r, m := range parts {
			wg.Add(1)
			go func() {
				defer wg.Done()
				m.ZeroGrads()
				l, _, err := m.Step(b, 0.5)
				if err != nil {
					t.Error(err)
				}
				losses[r] = l
			}()
		}
		wg.Wait()
		for r, l := range losses {
			if math.Abs(l-wantLoss) > 1e-5*wantLoss {
				t.Errorf("TP=%d rank %d: loss %.7f, want %.7f", tp, r, l, wantLoss)
			}
		}
		got := gatherGrads(parts, full)
		for _, tn := range full.Tensors {
			w, g := want[tn.Offset:tn.Offset+tn.Size], got[tn.Offset:tn.Offset+tn.Size]
			scale := 1e-3
			for _, v := range w {
				scale = max(scale, math.Abs(float64(v)))
			}
			for i := range w {
				if d := math.Abs(float64(g[i] - w[i])); d > 1e-4*scale {
					t.Errorf("TP=%d: grad %s[%d] = %g, want %g", tp, tn.Name, i, g[i], w[i])
					break
				}
			}
		}
		// Replicated tensors' gradients are the same bits on every rank.
		for _, tn := range parts[0].Layout.Tensors {
			if tn.Split != Replicated {
				continue
			}
			g0 := make([]float32, tn.Size)
			parts[0].Dev.Read(g0, parts[0].Grads.Slice(tn.Offset, tn.Size))
			for _, m := range parts[1:] {
				g := make([]float32, tn.Size)
				m.Dev.Read(g, m.Grads.Slice(tn.Offset, tn.Size))
				for i := range g {
					if math.Float32bits(g[i]) != math.Float32bits(g0[i]) {
						t.Fatalf("TP=%d: replicated %s differs across ranks", tp, tn.Name)
					}
				}
			}
		}
	}
}

// TestPipelineStages: the model cut into stages, run micro-batch by
// micro-batch through the slot methods with activations and gradients
// copied between stages, gives the whole model's loss and gradients bit for
// bit (no arithmetic changes), and reports every gradient range ready once.
func TestPipelineStages(t *testing.T) {
	c := tpConfig
	c.Layers = 3
	full := NewLayout(c)
	host := randomHost(full, 9)
	ref, _ := New(cpu.New(1), c)
	ref.Dev.Write(ref.Params, host)
	const B, T = 2, 4
	r := rand.New(rand.NewPCG(1, 1))
	ids, targets := make([]int32, B*T), make([]int32, B*T)
	for i := range ids {
		ids[i], targets[i] = int32(r.IntN(c.Vocab)), int32(r.IntN(c.Vocab))
	}
	ref.ZeroGrads()
	wantLoss, _, err := ref.Step(Batch{B: B, T: T, IDs: ids, Targets: targets}, 1)
	if err != nil {
		t.Fatal(err)
	}
	want := make([]float32, full.Size)
	ref.Dev.Read(want, ref.Grads)

	split := []Part{{TP: 1, First: 0, Layers: 1, Embed: true}, {TP: 1, First: 1, Layers: 0 + 2, Head: true}}
	var stages []*Model
	for _, p := range split {
		m, err := NewPart(cpu.New(1), c, p, nil)
		if err != nil {
			t.Fatal(err)
		}
		loadPart(m, full, host)
		m.PrepareSlots(1, B, T)
		m.ZeroGrads()
		stages = append(stages, m)
	}
	move := func(dst *Model, db npu.Buf, src *Model, sb npu.Buf) {
		x := make([]float32, sb.Len())
		src.Dev.Read(x, sb)
		dst.Dev.Write(db, x)
	}
	if _, _, err := stages[0].ForwardSlot(0, ids, nil, 1); err != nil {
		t.Fatal(err)
	}
	move(stages[1], stages[1].Input(0), stages[0], stages[0].Output(0))
	loss, _, err := stages[1].ForwardSlot(0, nil, targets, 1)
	if err != nil {
		t.Fatal(err)
	}
	if loss != wantLoss {
		t.Errorf("pipeline loss %v, whole model %v", loss, wantLoss)
	}
	for i := len(stages) - 1; i >= 0; i-- {
		covered := make([]int, stages[i].Layout.Size)
		if err := stages[i].BackwardSlot(0, ids, func(off, n int) {
			for k := off; k < off+n; k++ {
				covered[k]++
			}
		}); err != nil {
			t.Fatal(err)
		}
		for k, n := range covered {
			if n != 1 {
				t.Fatalf("stage %d: gradient element %d reported ready %d times", i, k, n)
			}
		}
		if i > 0 {
			move(stages[i-1], stages[i-1].GradBuffer(), stages[i], stages[i].GradBuffer())
		}
	}
	got := gatherGrads(stages, full)
	// The two copies of the tied embedding each hold one half of its
	// gradient; the trainer sums them across stages.
	wte, _ := full.Lookup("word_embeddings.weight")
	e0 := make([]float32, wte.Size)
	stages[0].Dev.Read(e0, stages[0].G.WTE)
	e1 := make([]float32, wte.Size)
	stages[1].Dev.Read(e1, stages[1].G.WTE)
	for i := range e0 {
		got[wte.Offset+i] = e1[i] + e0[i]
	}
	bad := 0
	for i := range want {
		if i >= wte.Offset && i < wte.Offset+wte.Size {
			// summed in another order than the whole model's backward
			if math.Abs(float64(got[i]-want[i])) > 1e-6*(1+math.Abs(float64(want[i]))) {
				bad++
			}
		} else if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
			bad++
		}
	}
	if bad > 0 {
		t.Errorf("%d of %d gradients differ from the whole model's", bad, len(want))
	}
}

// TestPartInit: every part initializes to its piece of the whole model
// initialized with the same seed, bit for bit.
func TestPartInit(t *testing.T) {
	c := tpConfig
	whole, _ := New(cpu.New(1), c)
	whole.InitRandom(5, 0.02)
	host := make([]float32, whole.Layout.Size)
	whole.Dev.Read(host, whole.Params)
	for _, p := range []Part{{TP: 2, TPRank: 1, First: 1, Layers: 1, Head: true}, {TP: 4, TPRank: 2, Layers: 1, Embed: true}} {
		comms := newMemTP(make([]npu.Device, p.TP))
		m, err := NewPart(cpu.New(1), c, p, comms[p.TPRank])
		if err != nil {
			t.Fatal(err)
		}
		m.InitRandom(5, 0.02)
		got := make([]float32, m.Layout.Size)
		m.Dev.Read(got, m.Params)
		want := make([]float32, m.Layout.Size)
		for _, tn := range m.Layout.Tensors {
			g, _ := whole.Layout.Lookup(tn.Name)
			m.Layout.Shard(tn, host[g.Offset:g.Offset+g.Size], want[tn.Offset:tn.Offset+tn.Size])
		}
		for i := range got {
			if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
				t.Fatalf("%+v: parameter %d is %v, the whole model's piece is %v", p, i, got[i], want[i])
			}
		}
	}
}

func TestPartValidate(t *testing.T) {
	c := tpConfig
	for _, p := range []Part{
		{TP: 3, Layers: 2, Embed: true, Head: true},           // 4 heads
		{TP: 2, TPRank: 2, Layers: 2},                         // rank past size
		{TP: 1, First: 1, Layers: 2},                          // past the last block
		{TP: 1, First: 1, Layers: 0},                          // holds nothing
		{TP: 8, Layers: 2, Embed: true, Head: true},           // 4 heads, 12 rows
		{TP: 0, Layers: 2, Embed: true},                       // no TP
		{TP: 1, First: -1, Layers: 1, Embed: true},            // negative
		{TP: 2, TPRank: -1, Layers: 1, Embed: true},           // negative rank
		{TP: 6, TPRank: 0, Layers: 1, Embed: true},            // 4 heads
		{TP: 1, First: 0, Layers: 3, Embed: true, Head: true}, // 2 blocks
	} {
		if err := p.Validate(c); err == nil {
			t.Errorf("%+v validated", p)
		}
	}
	if _, err := NewPart(cpu.New(1), c, Part{TP: 2, Layers: 2, Embed: true, Head: true}, nil); err == nil {
		t.Error("NewPart with TP=2 and no TPComm succeeded")
	}
}
