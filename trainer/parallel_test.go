package trainer

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"
	"testing"

	"bloom/internal/half"
	"bloom/npu"
	"bloom/npu/cpu"
	"bloom/trainer/bloom"
)

// An in-process job: every rank a goroutine with its own one-thread CPU
// device; groups that reduce in rank order, so that every member gets the
// same bits on every run; pipeline links that do not buffer (a Send waits
// for the Recv), the strictest a transport can be.

// memGroup is a Group's shared state.
type memGroup struct {
	mu   sync.Mutex
	size int
	cur  *groupOp
	// failAt, when positive, makes the failAt-th operation fail on every
	// member (fault injection); ops counts operations started.
	failAt, ops int
}

type groupOp struct {
	bufs [][]float32
	n    int
	res  []float32
	err  error
	done chan struct{}
}

var errInjected = errors.New("injected collective failure")

// memMember is one rank's handle on a memGroup.
type memMember struct {
	g    *memGroup
	rank int
}

func (m *memMember) Size() int { return m.g.size }
func (m *memMember) Rank() int { return m.rank }

func (m *memMember) AllReduce(ctx context.Context, buf []float32, op ReduceOp) error {
	g := m.g
	g.mu.Lock()
	o := g.cur
	if o == nil {
		g.ops++
		o = &groupOp{bufs: make([][]float32, g.size), done: make(chan struct{})}
		if g.ops == g.failAt {
			o.err = errInjected
		}
		g.cur = o
	}
	o.bufs[m.rank] = buf
	if o.n++; o.n == g.size {
		g.cur = nil
		o.res = slices.Clone(o.bufs[0])
		for _, x := range o.bufs[1:] {
			if len(x) != len(o.res) {
				o.err = fmt.Errorf("all-reduce of %d and %d values", len(o.res), len(x))
				break
			}
			for i, v := range x {
				if op == ReduceMax {
					o.res[i] = max(o.res[i], v)
				} else {
					o.res[i] += v
				}
			}
		}
		close(o.done)
	}
	g.mu.Unlock()
	select {
	case <-o.done:
	case <-ctx.Done():
		return ctx.Err()
	}
	if o.err != nil {
		return o.err
	}
	copy(buf, o.res)
	return nil
}

// AllReduceF16 sums in float32, in rank order, and rounds once, as the
// collective's Float16 type does.
func (m *memMember) AllReduceF16(ctx context.Context, buf []uint16) error {
	return viaF32(buf, func(f []float32) error { return m.AllReduce(ctx, f, ReduceSum) })
}

// viaF32 runs reduce on buf's fp16 values widened to float32 and rounds the
// result back into buf.
func viaF32(buf []uint16, reduce func([]float32) error) error {
	f := make([]float32, len(buf))
	half.FromF16(f, buf)
	if err := reduce(f); err != nil {
		return err
	}
	half.ToF16(buf, f)
	return nil
}

// memLink is one end of an unbuffered pipeline link.
type memLink struct {
	in  <-chan []float32
	out chan<- []float32
}

func (l *memLink) Send(ctx context.Context, buf []float32) error {
	select {
	case l.out <- slices.Clone(buf):
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (l *memLink) Recv(ctx context.Context, buf []float32) error {
	select {
	case b := <-l.in:
		if len(b) != len(buf) {
			return fmt.Errorf("received %d values into a buffer of %d", len(b), len(buf))
		}
		copy(buf, b)
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// world is an in-process job's wiring: every rank's Env but its data.
type world struct {
	cfg    RankConfig
	envs   []Env
	groups map[string]*memGroup
	// onReport, when not nil, sees every rank's every step (from the
	// rank's goroutine).
	onReport func(rank int, s StepStats)
}

func newWorld(cfg RankConfig) *world {
	w := &world{cfg: cfg, groups: map[string]*memGroup{}}
	member := func(kind string, ranks []int, r int) Group {
		if len(ranks) < 2 {
			return nil
		}
		key := fmt.Sprint(kind, ranks)
		g := w.groups[key]
		if g == nil {
			g = &memGroup{size: len(ranks)}
			w.groups[key] = g
		}
		return &memMember{g: g, rank: slices.Index(ranks, r)}
	}
	n := cfg.World()
	w.envs = make([]Env, n)
	for r := range n {
		c := cfg
		c.Rank = r
		tp, dp, pp, embed := c.Groups()
		w.envs[r] = Env{Dev: cpu.New(1), TP: member("tp", tp, r), DP: member("dp", dp, r), PP: member("pp", pp, r),
			Embed: member("embed", embed, r)}
	}
	for r := range n {
		c := cfg
		c.Rank = r
		if _, next := c.Neighbours(); next >= 0 {
			fwd, bwd := make(chan []float32), make(chan []float32)
			w.envs[r].Next = &memLink{in: bwd, out: fwd}
			w.envs[next].Prev = &memLink{in: fwd, out: bwd}
		}
	}
	return w
}

// jobResult is what an in-process job leaves.
type jobResult struct {
	stats [][]StepStats // per rank
	ranks []*Rank
	errs  []error // per rank
}

// runJob runs every rank of cfg in its own goroutine with src as data, the
// shared committer (nil: a DirCommitter) and w's wiring (nil: a new world).
// A failing rank cancels the others, as the daemon aborts a job.
func runJob(ctx context.Context, cfg RankConfig, src Source, commit Committer, w *world) (jobResult, error) {
	if w == nil {
		w = newWorld(cfg)
	}
	if commit == nil {
		commit = &DirCommitter{}
	}
	n := cfg.World()
	res := jobResult{stats: make([][]StepStats, n), ranks: make([]*Rank, n)}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errs := make([]error, n)
	var wg sync.WaitGroup
	for r := range n {
		c := cfg
		c.Rank = r
		env := w.envs[r]
		env.Data, env.Commit = src, commit
		env.Report = func(s StepStats) {
			res.stats[r] = append(res.stats[r], s)
			if w.onReport != nil {
				w.onReport(r, s)
			}
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			rk, err := NewRank(c, env)
			if err == nil {
				res.ranks[r] = rk
				err = rk.Run(ctx)
			}
			if err != nil {
				errs[r] = err
				if !errors.Is(err, ErrStopped) {
					cancel()
				}
			}
		}()
	}
	wg.Wait()
	res.errs = errs
	for _, err := range errs {
		if err != nil && !errors.Is(err, context.Canceled) {
			return res, err
		}
	}
	return res, errors.Join(errs...)
}

// read copies a device buffer to the host.
func readBuf(d npu.Device, b npu.Buf) []float32 {
	x := make([]float32, b.Len())
	d.Read(x, b)
	return x
}

// fullState assembles the whole model's parameters and AdamW moments from
// replica 0's ranks, and checks on the way that what must be identical is:
// data-parallel replicas, replicated tensors across tensor-parallel ranks,
// and the first and last stage's copies of the tied embeddings.
func fullState(t *testing.T, cfg RankConfig, ranks []*Rank) (params, m, v []float32) {
	t.Helper()
	full := bloom.NewLayout(cfg.Model)
	out := [3][]float32{make([]float32, full.Size), make([]float32, full.Size), make([]float32, full.Size)}
	seen := map[string][]float32{} // replicated or tied tensor → the first copy's bits
	for _, rk := range ranks {
		at := rk.Cfg.Coords()
		pp, dp, tp := at.PP, at.DP, at.TP
		state := [3][]float32{readBuf(rk.Model.Dev, rk.Model.Params), readBuf(rk.Model.Dev, rk.Opt.M), readBuf(rk.Model.Dev, rk.Opt.V)}
		if dp > 0 {
			twin := ranks[rk.Cfg.Layout.Rank(Coords{TP: tp, DP: 0, PP: pp})]
			if sameBits(state[0], readBuf(twin.Model.Dev, twin.Model.Params)) >= 0 {
				t.Errorf("rank %d's parameters differ from its replica's on rank %d", rk.Cfg.Rank, twin.Cfg.Rank)
			}
			continue
		}
		l := rk.Model.Layout
		for _, tn := range l.Tensors {
			f, _ := full.Lookup(tn.Name)
			piece := state[0][tn.Offset : tn.Offset+tn.Size]
			if tn.Split == bloom.Replicated || tn.Name == "word_embeddings.weight" {
				key := fmt.Sprint(tn.Name, tp)
				if tn.Split == bloom.Replicated {
					key = tn.Name
				}
				if prev, ok := seen[key]; ok && sameBits(prev, piece) >= 0 {
					t.Errorf("copies of %s differ (rank %d)", tn.Name, rk.Cfg.Rank)
				}
				seen[key] = piece
			}
			for i := range out {
				l.Unshard(tn, state[i][tn.Offset:tn.Offset+tn.Size], out[i][f.Offset:f.Offset+f.Size])
			}
		}
	}
	return out[0], out[1], out[2]
}

// sameBits reports the first index where a and b differ bit for bit, or -1.
func sameBits(a, b []float32) int {
	for i := range a {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
			return i
		}
	}
	return -1
}
