package trainer

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"bloom/internal/testutil"
	"bloom/npu"
	"bloom/npu/cpu"
	"bloom/trainer/bloom"
)

// TestCollectiveFailureEndsJob: a data-parallel all-reduce that fails
// mid-run (on every member, as an aborted communicator does) ends every
// rank with an error instead of a hang, and leaves no goroutine behind.
func TestCollectiveFailureEndsJob(t *testing.T) {
	before := runtime.NumGoroutine()
	c := layout(tinyJob(), 2, 2, 2, nil)
	w := newWorld(c)
	for key, g := range w.groups {
		if strings.HasPrefix(key, "dp") {
			g.failAt = 9 // mid-step 2: buckets and loss are several operations a step
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	res, err := runJob(ctx, c, tinySource(t, c), nil, w)
	if !errors.Is(err, errInjected) {
		t.Fatalf("job ended with %v, want the injected failure", err)
	}
	if n := len(res.stats[0]); n > 2 {
		t.Errorf("%d steps reported after a failure in step 2", n)
	}
	// Run promises every goroutine it starts has ended when it returns.
	testutil.NoLeaks(t, before, 5*time.Second)
}

// failingLink fails every Send after the first n.
type failingLink struct {
	StageLink
	n atomic.Int32
}

func (l *failingLink) Send(ctx context.Context, buf []float32) error {
	if l.n.Add(-1) < 0 {
		return errors.New("link down")
	}
	return l.StageLink.Send(ctx, buf)
}

// TestLinkFailureEndsJob: a pipeline link that breaks ends the job with its
// error; the ranks blocked on it are released.
func TestLinkFailureEndsJob(t *testing.T) {
	before := runtime.NumGoroutine()
	c := layout(tinyJob(), 1, 1, 2, nil)
	w := newWorld(c)
	fl := &failingLink{StageLink: w.envs[0].Next}
	fl.n.Store(5)
	w.envs[0].Next = fl
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := runJob(ctx, c, tinySource(t, c), nil, w); err == nil || !strings.Contains(err.Error(), "link down") {
		t.Fatalf("job ended with %v, want the link's failure", err)
	}
	testutil.NoLeaks(t, before, 5*time.Second)
}

// TestCancelStopsJob: cancelling the context stops every rank promptly
// with context.Canceled.
func TestCancelStopsJob(t *testing.T) {
	before := runtime.NumGoroutine()
	c := layout(tinyJob(), 2, 1, 2, nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	w := newWorld(c)
	steps := atomic.Int32{}
	res := make(chan error, 1)
	go func() {
		_, err := runJob(ctx, c, &countingSource{Source: tinySource(t, c), after: 40, hook: cancel, n: &steps}, nil, w)
		res <- err
	}()
	select {
	case err := <-res:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("job ended with %v, want context.Canceled", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("job did not stop within a minute of its cancellation")
	}
	testutil.NoLeaks(t, before, 5*time.Second)
}

// countingSource calls hook once after its after-th sample.
type countingSource struct {
	Source
	after int32
	hook  func()
	n     *atomic.Int32
}

func (s *countingSource) Sample(i int64, dst []int32) error {
	if s.n.Add(1) == s.after {
		s.hook()
	}
	return s.Source.Sample(i, dst)
}

func TestRankConfigCoords(t *testing.T) {
	c := layout(tinyJob(), 2, 2, 2, nil)
	c.Rank = 5
	if at := c.Coords(); at != (Coords{TP: 1, DP: 0, PP: 1}) {
		t.Errorf("rank 5 of DP2 TP2 PP2: %+v, want pp 1 dp 0 tp 1", at)
	}
	tp, dp, pp, embed := c.Groups()
	if got := fmt.Sprint(tp, dp, pp, embed); got != "[4 5] [5 7] [1 5] [1 5]" {
		t.Errorf("groups of rank 5: %s", got)
	}
	if prev, next := c.Neighbours(); prev != 1 || next != -1 {
		t.Errorf("neighbours of rank 5: %d %d", prev, next)
	}
	if p := c.Part(); p != (bloom.Part{TP: 2, TPRank: 1, First: 2, Layers: 2, Head: true}) {
		t.Errorf("part of rank 5: %+v", p)
	}
	c.PP, c.Rank = 4, 2 // a middle stage is in no embedding group
	c.PartitionLayers = []int{1, 1, 1, 1}
	c.Rank = c.Layout.Rank(Coords{TP: 0, DP: 1, PP: 1})
	if _, _, _, embed := c.Groups(); embed != nil {
		t.Errorf("middle stage in embedding group %v", embed)
	}
}

// TestLocalValidate: a local run is checked as the one rank of a job on its
// model's shape (the configuration's own layout and shape do not count), and
// needs a whole model.
func TestLocalValidate(t *testing.T) {
	whole, err := bloom.New(cpu.New(1), tinyJob().Model)
	if err != nil {
		t.Fatal(err)
	}
	part, err := bloom.NewPart(cpu.New(1), tinyJob().Model, bloom.Part{TP: 1, Layers: 2, Embed: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ok := tinyJob()
	ok.Layout, ok.Model.Heads = Layout{TP: 3, PP: 5, DP: 2}, 7 // another job's: ignored
	if err := (&Local{Cfg: ok, Model: whole}).Validate(); err != nil {
		t.Fatalf("a good run: %v", err)
	}
	for name, f := range map[string]func(l *Local){
		"steps":       func(l *Local) { l.Cfg.Steps = 0 },
		"micro batch": func(l *Local) { l.Cfg.MicroBatch = 0 },
		"global":      func(l *Local) { l.Cfg.GlobalBatch = 7 },
		"clip":        func(l *Local) { l.Cfg.ClipGrad = -1 },
		"lr":          func(l *Local) { l.Cfg.LR.Style = "step" },
		"loss scale":  func(l *Local) { l.Cfg.Precision, l.Cfg.LossScale.Window = npu.F16, 0 },
		"eval":        func(l *Local) { l.Cfg.Eval.Iters = 2 },
		"no model":    func(l *Local) { l.Model = nil },
		"a part":      func(l *Local) { l.Model = part },
	} {
		l := &Local{Cfg: ok, Model: whole}
		f(l)
		if err := l.Validate(); !errors.Is(err, ErrConfig) {
			t.Errorf("%s: %v, want ErrConfig", name, err)
		}
	}
}

func TestRankConfigValidate(t *testing.T) {
	for name, f := range map[string]func(c *RankConfig){
		"heads":           func(c *RankConfig) { c.TP = 3 },
		"vocab":           func(c *RankConfig) { c.TP = 8; c.Model.Heads, c.Model.Vocab = 8, 260 },
		"uneven layers":   func(c *RankConfig) { c.PP = 3 },
		"partition sum":   func(c *RankConfig) { c.PP, c.PartitionLayers = 2, []int{2, 1} },
		"partition count": func(c *RankConfig) { c.PP, c.PartitionLayers = 2, []int{4} },
		"empty stage":     func(c *RankConfig) { c.PP, c.PartitionLayers = 2, []int{4, 0} },
		"global batch":    func(c *RankConfig) { c.DP = 3 },
		"rank":            func(c *RankConfig) { c.Rank = 1 },
		"steps":           func(c *RankConfig) { c.Steps = 0 },
		"lr":              func(c *RankConfig) { c.LR.Style = "step" },
	} {
		c := tinyJob()
		f(&c)
		if err := c.Validate(); !errors.Is(err, ErrConfig) && !errors.Is(err, bloom.ErrConfig) {
			t.Errorf("%s: %v", name, err)
		}
	}
	c := layout(tinyJob(), 1, 2, 1, nil)
	env := newWorld(c).envs[0]
	env.Data, env.TP = tinySource(t, c), nil
	if _, err := NewRank(c, env); !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), "tensor-parallel group") {
		t.Errorf("missing TP group: %v", err)
	}
	c.Save = t.TempDir()
	env = newWorld(c).envs[0]
	env.Data = tinySource(t, c)
	if _, err := NewRank(c, env); !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), "Committer") {
		t.Errorf("saving without a committer: %v", err)
	}
}
