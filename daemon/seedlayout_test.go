package daemon_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"bloom/api"
	"bloom/daemon/jobspec"
	"bloom/trainer/bloom"
)

// The seed's largest layout, Bloom-176B on 12 nodes × 8 NPUs with TP8 and
// PP12 (--partition-layers 6,…,6,4 over 70 layers), run by real bloomd
// processes with CPU devices on one machine: a narrow 70-layer BLOOM
// (heads divisible by TP) trains, checkpoints, loses a node to SIGKILL
// and resumes exactly. TestSeedLayoutSmall is the same shape at 4 nodes ×
// 4 devices (TP4 × PP4) and runs in make test; `make scale` runs the full
// 12 × 8 with both of the seed's splits (BLOOM_SEED_LAYOUT=full).

// seedLayout is one run's shape.
type seedLayout struct {
	nodes, devices, tp, pp int
	partition              []int
	steps, saveEvery       int64
}

func TestSeedLayoutSmall(t *testing.T) {
	if testing.Short() {
		t.Skip("runs 4 bloomd and 16 workers")
	}
	runSeedLayout(t, seedLayout{nodes: 4, devices: 4, tp: 4, pp: 4, partition: []int{18, 18, 18, 16}, steps: 6, saveEvery: 2})
}

// TestSeedLayoutFull is the seed's 12 × 8, TP8 × PP12 = 96 workers, with
// the converter's 6,…,6,4 split and the training script's 5,6,…,6,5.
func TestSeedLayoutFull(t *testing.T) {
	if os.Getenv("BLOOM_SEED_LAYOUT") != "full" {
		t.Skip("the full 96-rank layout runs with make scale (BLOOM_SEED_LAYOUT=full)")
	}
	for _, split := range [][]int{
		{6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 4},
		{5, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 5},
	} {
		t.Run(joinInts(split), func(t *testing.T) {
			runSeedLayout(t, seedLayout{nodes: 12, devices: 8, tp: 8, pp: 12, partition: split, steps: 4, saveEvery: 2})
		})
	}
}

func runSeedLayout(t *testing.T, l seedLayout) {
	e := newE2E(t, l.nodes)
	for i := range l.nodes {
		e.startWith(i, fmt.Sprintf("cpu:%d", l.devices), "--bootstrap-expect", "3")
	}
	e.waitFor(120*time.Second, "every node registered", func() bool {
		st, err := e.client(0).Status(e.ctx())
		ms, err2 := e.client(0).Members(e.ctx())
		return err == nil && err2 == nil && st.Leader != "" && countState(ms, api.StateAlive) == l.nodes
	})
	s := jobspec.Default()
	s.Model = &bloom.Config{Vocab: 320, Hidden: 64, Heads: 8, Layers: 70, Eps: 1e-5}
	s.TensorParallel, s.PipelineParallel, s.DataParallel, s.PartitionLayers = l.tp, l.pp, 1, l.partition
	s.MicroBatch, s.GlobalBatch, s.SeqLength, s.TrainIters = 1, 2, 32, l.steps
	s.SaveInterval, s.MaxRestarts, s.LR, s.LRWarmupSamples = int(l.saveEvery), 2, 1e-3, 2
	raw, err := s.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	submit := func(name string) *api.JobInfo {
		t.Helper()
		var j *api.JobInfo
		e.waitFor(60*time.Second, "the job taken", func() bool { // through elections, as bloomctl retries
			var err error
			j, err = e.client(0).Submit(e.ctxFor(30*time.Second), api.SubmitJobRequest{Name: name, Spec: raw})
			var se *api.StatusError
			if errors.As(err, &se) && se.Code == http.StatusServiceUnavailable {
				return false
			}
			if err != nil {
				t.Fatal(err)
			}
			return true
		})
		return j
	}
	job := func(id string) *api.JobInfo {
		j, err := e.client(0).Job(e.ctx(), id)
		if err != nil {
			return nil
		}
		return j
	}

	// The uninterrupted run, measured.
	start := time.Now()
	ref := submit("seed-layout-ref")
	first := e.waitFor(600*time.Second, "the first step", func() bool {
		j := job(ref.ID)
		return j != nil && j.Progress != nil && j.Progress.Step >= 1
	})
	workers, daemons := e.rss()
	var done *api.JobInfo
	e.waitFor(900*time.Second, "the reference run's end", func() bool {
		done = job(ref.ID)
		return done != nil && (done.State == api.JobSucceeded || done.State == api.JobFailed)
	})
	if done.State != api.JobSucceeded {
		t.Fatalf("reference: %+v", done.Attempts)
	}
	t.Logf("%d nodes × cpu:%d, TP%d × PP%d (%s) = %d workers: submit → first step %v; whole run %v; %.3g s/step; worker RSS %s; bloomd RSS %s",
		l.nodes, l.devices, l.tp, l.pp, joinInts(l.partition), l.tp*l.pp, first.Round(time.Millisecond), time.Since(start).Round(time.Millisecond),
		done.Progress.SecondsPerStep, summary(workers), summary(daemons))
	t.Logf("where the start-up goes (slowest rank of each phase): %s", e.startupPhases(done))
	if len(workers) != l.tp*l.pp {
		t.Errorf("found %d worker processes while it ran, want %d", len(workers), l.tp*l.pp)
	}

	// The same run, a node SIGKILLed after the first checkpoint.
	j := submit("seed-layout-kill")
	id := j.ID
	e.waitFor(600*time.Second, "a committed checkpoint", func() bool {
		if got := job(id); got != nil {
			j = got
		}
		return len(j.Checkpoints) > 0
	})
	victim := e.index(j.Plan.Ranks[len(j.Plan.Ranks)-1].Node) // the last stage's node: never the first (the API this test asks)
	if victim == 0 {
		t.Fatalf("the last stage is on node 1")
	}
	if j.State == api.JobSucceeded {
		t.Skip("the run ended before a node could be killed")
	}
	e.kill(victim)
	killed := time.Now()
	e.startWith(victim, fmt.Sprintf("cpu:%d", l.devices), "--bootstrap-expect", "3")
	e.waitFor(900*time.Second, "success after the kill", func() bool {
		if got := job(id); got != nil {
			j = got
		}
		return j.State == api.JobSucceeded || j.State == api.JobFailed
	})
	if j.State != api.JobSucceeded || len(j.Attempts) < 2 {
		t.Fatalf("after the kill: %v %+v", j.State, j.Attempts)
	}
	a := j.Attempts[len(j.Attempts)-1]
	t.Logf("%s SIGKILLed: attempt %d resumed from step %d; ended %v after the kill; cause %q", e.name(victim), a.N, a.FromStep,
		time.Since(killed).Round(time.Millisecond), j.Attempts[0].Cause)
	if a.FromStep == 0 || j.Progress.Loss != done.Progress.Loss {
		t.Fatalf("resumed from step %d; final loss %v, uninterrupted %v", a.FromStep, j.Progress.Loss, done.Progress.Loss)
	}
}

// startupPhases reads the ranks' logs of j's first attempt: from the
// attempt's start to each worker's first line (placement, the bloomd
// starting the process, the Go runtime, the device), to its "device peak"
// line (the matrix product measuring the device's peak, data opened), to
// its first step line (communicators joined, the first step).
func (e *e2e) startupPhases(j *api.JobInfo) string {
	start := time.UnixMilli(j.Attempts[0].StartedAt)
	day := start.Truncate(24 * time.Hour)
	at := func(line string) (time.Time, bool) {
		if len(line) < 12 {
			return time.Time{}, false
		}
		t, err := time.Parse("15:04:05.000", line[:12])
		if err != nil {
			return time.Time{}, false
		}
		return day.Add(t.Sub(t.Truncate(24 * time.Hour))), true
	}
	var spawn, peak, joined, first time.Duration
	logs, _ := filepath.Glob(filepath.Join(e.dir, "n*", "jobs", j.ID, "attempt-1", "rank-*.log"))
	n := 0
	for _, f := range logs {
		if _, err := os.Stat(f + ".copy"); err == nil {
			continue // another node's copy of a rank's log
		}
		n++
		b, _ := os.ReadFile(f)
		var t0, tp, tj, ts time.Time
		for _, l := range strings.Split(string(b), "\n") {
			t, ok := at(l)
			switch {
			case !ok:
			case t0.IsZero():
				t0 = t
			case tp.IsZero() && strings.Contains(l, "device peak"):
				tp = t
			case tj.IsZero() && strings.Contains(l, "communicators joined"):
				tj = t
			case ts.IsZero() && strings.Contains(l, " step 1/"):
				ts = t
			}
		}
		if t0.IsZero() || tp.IsZero() || tj.IsZero() || ts.IsZero() {
			continue
		}
		spawn, peak, joined, first = max(spawn, t0.Sub(start)), max(peak, tp.Sub(t0)), max(joined, tj.Sub(tp)), max(first, ts.Sub(tj))
	}
	return fmt.Sprintf("%d rank logs: attempt start → worker running %v; → device peak measured %v; → communicators joined %v; → first step done %v",
		n, spawn.Round(time.Millisecond), peak.Round(time.Millisecond), joined.Round(time.Millisecond), first.Round(time.Millisecond))
}

// startWith starts node i with devices and extra flags.
func (e *e2e) startWith(i int, devices string, extra ...string) {
	peers := strings.Join(e.gossip[:min(3, len(e.gossip))], ",")
	args := append([]string{"join", "--name", e.name(i), "--data-dir", filepath.Join(e.dir, e.name(i)),
		"--bind", e.gossip[i], "--api", e.apis[i], "--peers", peers, "--secret-file", e.secret,
		"--devices", devices, "--log-format", "json"}, extra...)
	e.procs[i] = e.spawn(e.name(i), args)
}

func (e *e2e) ctxFor(d time.Duration) context.Context {
	c, cancel := context.WithTimeout(context.Background(), d)
	e.t.Cleanup(cancel)
	return c
}

// rss is the resident memory of every worker (a child of a bloomd) and of
// every bloomd, in bytes.
func (e *e2e) rss() (workers, daemons []int64) {
	parent := map[int]bool{}
	for _, p := range e.procs {
		if p != nil {
			parent[p.cmd.Process.Pid] = true
			daemons = append(daemons, rssOf(p.cmd.Process.Pid))
		}
	}
	ents, _ := os.ReadDir("/proc")
	for _, d := range ents {
		pid, err := strconv.Atoi(d.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", d.Name(), "stat"))
		if err != nil {
			continue
		}
		f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
		if len(f) > 1 {
			if ppid, _ := strconv.Atoi(f[1]); parent[ppid] {
				workers = append(workers, rssOf(pid))
			}
		}
	}
	return workers, daemons
}

func rssOf(pid int) int64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var kb int64
		if _, err := fmt.Sscanf(sc.Text(), "VmRSS: %d kB", &kb); err == nil {
			return kb << 10
		}
	}
	return 0
}

// summary is "min–max MiB (total T MiB)".
func summary(b []int64) string {
	if len(b) == 0 {
		return "none"
	}
	lo, hi, sum := b[0], b[0], int64(0)
	for _, v := range b {
		lo, hi, sum = min(lo, v), max(hi, v), sum+v
	}
	return fmt.Sprintf("%d–%d MiB each, %d MiB in all", lo>>20, hi>>20, sum>>20)
}

func joinInts(xs []int) string {
	var s []string
	for _, x := range xs {
		s = append(s, strconv.Itoa(x))
	}
	return strings.Join(s, ",")
}
