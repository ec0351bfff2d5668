package daemon

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"bloom/api"
	"bloom/daemon/coord"
	"bloom/daemon/sched"
)

// jobs is the leader's side of running jobs: it feeds the scheduler
// (daemon/sched, which decides without I/O) the nodes' reports, the
// committed state, gossip's view and the time, and does what it returns:
// Raft commands and log lines. On a follower it only forgets.
type jobs struct {
	log     *slog.Logger
	leading func() bool               // this node leads and has caught up
	read    func(func(*coord.State))  // this node's applied state, under its lock
	apply   func(coord.Command) error // propose through Raft
	gossip  func() sched.Gossip       // one snapshot of gossip's view
	poke    func()                    // wake the jobs goroutine

	mu    sync.Mutex
	sched *sched.Scheduler
}

func newJobs(log *slog.Logger, cfg sched.Config, leading func() bool, read func(func(*coord.State)),
	apply func(coord.Command) error, gossip func() sched.Gossip, poke func()) *jobs {
	return &jobs{log: log, leading: leading, read: read, apply: apply, gossip: gossip, poke: poke, sched: sched.New(cfg)}
}

// schedConfig is the scheduler's part of the daemon's configuration.
func schedConfig(cfg *Config) sched.Config {
	// A draining node reports every interval; one that stopped reporting
	// it is gone, or back as a new process that is not draining.
	return sched.Config{LeaderGrace: cfg.LeaderGrace, DrainTTL: max(time.Second, 4*cfg.Jobs.ReportInterval), FirstCause: 2 * time.Second}
}

// state is a copy of this node's applied state.
func (j *jobs) state() *coord.State {
	var st *coord.State
	j.read(func(s *coord.State) { st = s.Clone() })
	return st
}

// receive merges a node's report (leader only) and answers with the
// manifests that node should write, the jobs it should stop and, when the
// node's Raft state lags the leader's, the running jobs it has ranks in.
func (j *jobs) receive(r api.NodeReport) api.ReportReply {
	j.mu.Lock()
	reply, changed := j.sched.Report(r, time.Now())
	j.mu.Unlock()
	if changed {
		j.poke()
	}
	j.read(func(s *coord.State) {
		if r.Applied > 0 && r.Applied < s.Index {
			reply.Jobs = runningOn(s, r.Node)
		}
	})
	return reply
}

// runningOn encodes the running jobs with a rank on node.
func runningOn(st *coord.State, node string) []json.RawMessage {
	var out []json.RawMessage
	for _, job := range st.Jobs {
		if job.State != coord.JobRunning || job.Plan == nil {
			continue
		}
		for _, r := range job.Plan.Ranks {
			if r.Node == node {
				if b, err := json.Marshal(job); err == nil {
					out = append(out, b)
				}
				break
			}
		}
	}
	return out
}

// coordinate is the leader's pass over the jobs: the scheduler decides,
// and each of its actions is applied and logged in order. Followers forget
// what they knew.
func (j *jobs) coordinate() {
	if !j.leading() {
		j.mu.Lock()
		j.sched.Reset()
		j.mu.Unlock()
		return
	}
	st, g := j.state(), j.gossip()
	j.mu.Lock()
	acts := j.sched.Pass(st, g, time.Now())
	j.mu.Unlock()
	for _, a := range acts {
		j.do(a)
	}
}

// do applies one action of the scheduler's and logs it.
func (j *jobs) do(a sched.Action) {
	var err error
	if a.Cmd != nil {
		if err = j.apply(a.Cmd); err != nil {
			j.log.Warn("job command", "cmd", fmt.Sprintf("%T", a.Cmd), "err", err)
		}
		j.mu.Lock()
		j.sched.Applied(a.Cmd, err)
		j.mu.Unlock()
	}
	if a.Msg != "" && (err == nil || a.Always) {
		j.log.Log(context.Background(), a.Level, a.Msg, a.Args...)
	}
}

// view is the leader's progress of a job's attempt and why a pending job
// waits, for the API.
func (j *jobs) view(job *coord.Job) (*api.JobProgress, string) {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.sched.Progress(job), j.sched.Waiting(job.ID)
}
