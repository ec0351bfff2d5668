package main

import (
	"fmt"
	"sort"
	"testing"
	"time"

	"bloom/api"
	"bloom/daemon/coord"
	"bloom/daemon/jobspec"
	"bloom/daemon/sched"
)

// coordFixture is the leader's input for one pass at scale: the committed
// state, gossip's view and a scheduler that has the running ranks' reports.
type coordFixture struct {
	st  *coord.State
	g   sched.Gossip
	s   *sched.Scheduler
	now time.Time
}

// jobSpec is a bloom-7b1 job of TP×PP×DP ranks (TP 8 fills a node of
// eight NPUs).
func jobSpec(tp, pp, dp int) ([]byte, error) {
	s := jobspec.Default()
	s.ModelPreset, s.TrainIters, s.MaxRestarts = "bloom-7b1", 1000, 3
	s.TensorParallel, s.PipelineParallel, s.DataParallel = tp, pp, dp
	s.MicroBatch, s.GlobalBatch = 1, 8*dp
	b, err := s.Marshal()
	if err != nil {
		return nil, err
	}
	if _, err := jobspec.Decode(b); err != nil {
		return nil, fmt.Errorf("scalesim: job spec TP%d PP%d DP%d: %w", tp, pp, dp, err)
	}
	return b, nil
}

// newCoordFixture builds members nodes of eight NPUs, alive in gossip and
// registered, and jobs jobs, submitted a second apart: seven in ten run
// (TP 8, PP 1–3, DP 1–4: 1 to 12 nodes each, ranks reporting step 500),
// the others are pending, of which the large ones do not fit and wait.
// It does not run a pass.
func newCoordFixture(members, jobs int) (*coordFixture, error) {
	t0 := time.UnixMilli(1_700_000_000_000)
	f := &coordFixture{st: coord.NewState(), g: sched.Gossip{Self: "node-0000"}, now: t0.Add(time.Hour),
		s: sched.New(sched.Config{LeaderGrace: 5 * time.Second, DrainTTL: time.Minute, FirstCause: 10 * time.Second})}
	names := make([]string, members)
	for i := range members {
		names[i] = fmt.Sprintf("node-%04d", i)
		f.st.Members[names[i]] = &coord.Member{Name: names[i], Devices: "npu:0-7", QUICAddr: "10.0.0.1:7444", RaftAddr: "10.0.0.1:7443", APIAddr: "10.0.0.1:7443"}
		f.g.Members = append(f.g.Members, sched.Member{Name: names[i], State: "alive", Instance: "i-" + names[i]})
	}
	apply := func(cmd coord.Command) error {
		if res := f.st.Apply(f.st.Index+1, cmd); res.Err != nil {
			return fmt.Errorf("scalesim: %T: %w", cmd, res.Err)
		}
		return nil
	}
	next := 0 // the next free node
	reports := map[string][]api.RankReport{}
	for j := range jobs {
		id := fmt.Sprintf("job-%03d", j)
		running := j%10 < 7
		pp, dp := 1+j%3, 1+j%4
		if !running && j%10 == 9 {
			dp = members // never fits: waits
		}
		raw, err := jobSpec(8, pp, dp)
		if err != nil {
			return nil, err
		}
		if err := apply(coord.SubmitJob{ID: id, Name: id, Spec: raw, At: t0.Add(time.Duration(j) * time.Second).UnixMilli()}); err != nil {
			return nil, err
		}
		if !running || next+pp*dp > members {
			continue
		}
		p := coord.Plan{TP: 8, PP: pp, DP: dp}
		for r := range 8 * pp * dp {
			p.Ranks = append(p.Ranks, coord.Rank{Rank: r, Node: names[next+r/8], Device: r % 8})
		}
		next += pp * dp
		if err := apply(coord.StartAttempt{ID: id, Plan: p, At: t0.Add(time.Minute).UnixMilli()}); err != nil {
			return nil, err
		}
		if err := apply(coord.CommitCheckpoint{ID: id, Checkpoint: coord.Checkpoint{Step: 400, Dir: "iter_0000400",
			Manifest: fmt.Sprintf("%064x", j)}}); err != nil {
			return nil, err
		}
		for _, rk := range p.Ranks {
			reports[rk.Node] = append(reports[rk.Node], api.RankReport{Job: id, Attempt: 1, Rank: rk.Rank,
				Progress: &api.StepProgress{Step: 500, HasLoss: true, Loss: 2.5}})
		}
	}
	nodes := make([]string, 0, len(reports))
	for n := range reports {
		nodes = append(nodes, n)
	}
	sort.Strings(nodes)
	for _, n := range nodes {
		f.s.Report(api.NodeReport{Node: n, Ranks: reports[n], Instance: "i-" + n}, f.now)
	}
	return f, nil
}

// coordResult is what the coordinator phase measured.
type coordResult struct {
	Members, Jobs, Running, Pending int
	First                           time.Duration // the first pass: places what fits
	FirstActions                    int
	Steady                          testing.BenchmarkResult // later passes
	SteadyActions                   int
	SteadyCPU                       time.Duration // process CPU per pass (GC included)
	f                               *coordFixture
}

// firstPass runs a new leader's first pass over the fixture, applies its
// commands as Raft would, and returns how many actions it had.
func firstPass(f *coordFixture) int {
	acts := f.s.Pass(f.st, f.g, f.now)
	for _, a := range acts {
		if a.Cmd != nil {
			f.st.Apply(f.st.Index+1, a.Cmd)
			f.s.Applied(a.Cmd, nil)
		}
	}
	return len(acts)
}

// runCoordOnce builds the fixture, runs the first pass and counts jobs.
func runCoordOnce(members, jobs int) (coordResult, error) {
	r := coordResult{Members: members, Jobs: jobs}
	f, err := newCoordFixture(members, jobs)
	if err != nil {
		return r, err
	}
	start := time.Now()
	r.FirstActions = firstPass(f)
	r.First = time.Since(start)
	for _, j := range f.st.Jobs {
		switch j.State {
		case coord.JobRunning:
			r.Running++
		case coord.JobPending:
			r.Pending++
		}
	}
	r.f = f
	return r, nil
}

// runCoord times the first pass of a new leader over the fixture (it
// places the pending jobs that fit; median of reps fresh fixtures) and,
// in Go benchmark style, the passes after it.
func runCoord(members, jobs, reps int) (coordResult, error) {
	var firsts []time.Duration
	var r coordResult
	for range max(reps, 1) {
		var err error
		if r, err = runCoordOnce(members, jobs); err != nil {
			return r, err
		}
		firsts = append(firsts, r.First)
	}
	sort.Slice(firsts, func(i, j int) bool { return firsts[i] < firsts[j] })
	r.First = firsts[len(firsts)/2]
	f := r.f
	r.Steady = testing.Benchmark(func(b *testing.B) {
		b.ReportAllocs()
		cpu0 := cpuTime()
		for b.Loop() {
			r.SteadyActions = len(f.s.Pass(f.st, f.g, f.now))
		}
		r.SteadyCPU = (cpuTime() - cpu0) / time.Duration(b.N)
	})
	return r, nil
}
