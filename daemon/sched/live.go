package sched

import (
	"time"

	"bloom/api"
	"bloom/daemon/coord"
	"bloom/daemon/jobspec"
)

// attempt is the leader's view of a running attempt, from the nodes'
// reports. It lives in the leader's memory only: reports are snapshots
// sent again and again, so a new leader rebuilds it within one interval.
type attempt struct {
	n       int
	ranks   map[int]api.RankReport
	nodes   map[int]string         // rank → the node that reported it
	pending map[int64]*pendingCkpt // step → manifest being written
	refused map[int64]bool         // steps whose shards disagree: never committed
	// nonces are the instances (process nonces) of the bloomds that
	// reported this attempt's ranks: when gossip shows another one alive
	// under the same name, that node restarted and its workers died with
	// it, whether or not gossip ever saw it dead.
	nonces map[string]string
	// growTo is the data-parallel size a shrunk attempt stops for (every
	// rank checkpoints and stops, and the next attempt runs on the job's
	// full layout); 0 while it does not.
	growTo int
	// hist are steps for the job's history not yet proposed (since when
	// the first of them came), histLast the last step taken in.
	hist      []coord.HistoryPoint
	histSince time.Time
	histLast  int64
	// firstFail is when a pass first saw a rank fail because of another
	// while none had failed on its own.
	firstFail time.Time
}

// liveFor returns the live record of job's attempt n, replacing one of an
// older attempt; nil for a report of an attempt older than the record.
func (s *Scheduler) liveFor(id string, n int) *attempt {
	a := s.live[id]
	if a != nil && a.n > n {
		return nil
	}
	if a == nil || a.n < n {
		old := a
		a = &attempt{n: n, ranks: map[int]api.RankReport{}, nodes: map[int]string{},
			pending: map[int64]*pendingCkpt{}, refused: map[int64]bool{}, nonces: map[string]string{}}
		if old != nil { // the older attempt's steps not yet proposed go with this one's
			a.hist, a.histSince = old.hist, old.histSince
		}
		s.live[id] = a
	}
	return a
}

// Report takes in a node's report, received at now, and returns the
// manifests that node should write and the jobs whose workers there
// should checkpoint and stop; changed says whether the report changed
// something a pass decides on (the caller then runs one soon).
func (s *Scheduler) Report(r api.NodeReport, now time.Time) (reply api.ReportReply, changed bool) {
	_, was := s.draining[r.Node]
	changed = was != r.Draining
	if r.Draining {
		s.draining[r.Node] = now
	} else {
		delete(s.draining, r.Node)
	}
	for _, rr := range r.Ranks {
		if a := s.liveFor(rr.Job, rr.Attempt); a != nil {
			old := a.ranks[rr.Rank]
			changed = changed || old.Exited != rr.Exited || len(old.Shards) != len(rr.Shards)
			a.ranks[rr.Rank], a.nodes[rr.Rank] = rr, r.Node
			a.takeHistory(rr.Recent, now)
			if _, ok := a.nonces[r.Node]; !ok && r.Instance != "" {
				a.nonces[r.Node] = r.Instance // the bloomd that runs the ranks
			}
		}
	}
	for _, ack := range r.Written {
		if a := s.live[ack.Job]; a != nil {
			if p := a.pending[ack.Step]; p != nil && p.sha == ack.SHA256 {
				if _, ok := p.orders[r.Node]; ok && !p.acked[r.Node] {
					p.acked[r.Node], changed = true, true
				}
			}
		}
	}
	for id, a := range s.live {
		if a.growTo == 0 {
			continue
		}
		for _, node := range a.nodes {
			if node == r.Node {
				reply.StopJobs = append(reply.StopJobs, id)
				break
			}
		}
	}
	for _, a := range s.live {
		for _, p := range a.pending {
			if o, ok := p.orders[r.Node]; ok && !p.acked[r.Node] {
				reply.Manifests = append(reply.Manifests, o)
			}
		}
	}
	return reply, changed
}

// lastReported is the last step any rank of a live attempt reported (0
// when none did).
func (a *attempt) lastReported() int64 {
	var last int64
	for _, rr := range a.ranks {
		if rr.Progress != nil && rr.Progress.Step > last {
			last = rr.Progress.Step
		}
	}
	return last
}

// Progress is the leader's summary of a job's running attempt, or of the
// last attempt it saw end; nil when it knows none.
func (s *Scheduler) Progress(job *coord.Job) *api.JobProgress {
	var p *api.JobProgress
	if a := s.live[job.ID]; a != nil && a.n == len(job.Attempts) {
		p = a.summarize()
	} else if f := s.final[job.ID]; f != nil && job.State != coord.JobRunning {
		cp := *f
		p = &cp
	} else if n := len(job.History); n > 0 && job.State != coord.JobRunning {
		p = fromHistory(job.History[n-1]) // a leader that did not see it end: Raft's record
		if sp, err := jobspec.Unmarshal(job.Spec); err == nil {
			p.Steps = sp.Steps()
		}
	}
	if p != nil && job.State != coord.JobRunning {
		p.Checkpointing = 0
	}
	return p
}

// summarize is a live attempt's progress, or nil.
func (a *attempt) summarize() *api.JobProgress {
	out := &api.JobProgress{Attempt: a.n}
	best := -1
	for r, rr := range a.ranks {
		if rr.Saving > out.Checkpointing {
			out.Checkpointing = rr.Saving
		}
		p := rr.Progress
		if p == nil {
			continue
		}
		out.Ranks++
		// The loss comes from the last pipeline stage; among ranks that
		// have one, the highest reports.
		if p.HasLoss && r > best {
			best = r
			out.Step, out.Steps, out.Loss, out.LR, out.GradNorm = p.Step, p.Steps, p.Loss, p.LR, p.GradNorm
			out.TokensPerSec, out.Consumed, out.UpdatedAt = p.TokensPerSec, p.Consumed, p.At
			out.LossScale, out.SkippedSteps, out.Throughput = p.LossScale, p.SkippedSteps, p.Throughput
		}
	}
	for step := range a.pending {
		out.Checkpointing = max(out.Checkpointing, step)
	}
	if out.Ranks == 0 && out.Checkpointing == 0 {
		return nil
	}
	return out
}

// Waiting is why a pending job is not placed yet ("" if unknown).
func (s *Scheduler) Waiting(id string) string { return s.waiting[id] }

// takeHistory keeps the steps of recent not taken in yet, for the job's
// history.
func (a *attempt) takeHistory(recent []api.StepProgress, now time.Time) {
	for _, p := range recent {
		if p.Step <= a.histLast {
			continue
		}
		if len(a.hist) == 0 {
			a.histSince = now
		}
		a.histLast = p.Step
		a.hist = append(a.hist, coord.HistoryPoint{Attempt: a.n, Step: p.Step, At: p.At, Loss: p.Loss, LR: p.LR,
			GradNorm: p.GradNorm, LossScale: p.LossScale, SkippedSteps: p.SkippedSteps, Consumed: p.Consumed, Batch: p.BatchSize, ValLoss: p.ValLoss, ValPPL: p.ValPPL,
			FinalValLoss: p.FinalValLoss, FinalValPPL: p.FinalValPPL,
			TokensPerSec: p.TokensPerSec, SamplesPerSec: p.SamplesPerSec, SecPerStep: p.SecondsPerStep, TFLOPs: p.TFLOPs, MFU: p.MFU})
	}
}

// historyFlushAge is how long steps wait on the leader before they are
// proposed together (fewer, larger Raft entries).
const historyFlushAge = 2 * time.Second

// flushHistory proposes the steps an attempt holds when there are enough,
// they waited long enough, or force (the attempt is over).
func (a *attempt) flushHistory(id string, now time.Time, force bool) []Action {
	if len(a.hist) == 0 || !force && len(a.hist) < coord.MaxHistoryBatch/4 && now.Sub(a.histSince) < historyFlushAge {
		return nil
	}
	var out []Action
	for len(a.hist) > 0 {
		n := min(len(a.hist), coord.MaxHistoryBatch)
		out = append(out, Action{Cmd: coord.AppendHistory{ID: id, Points: a.hist[:n:n]}})
		a.hist = a.hist[n:]
	}
	a.hist = nil
	return out
}

// fromHistory is the progress a job's last history point records.
func fromHistory(h coord.HistoryPoint) *api.JobProgress {
	return &api.JobProgress{Attempt: h.Attempt, Step: h.Step, Loss: h.Loss, LR: h.LR, GradNorm: h.GradNorm,
		TokensPerSec: h.TokensPerSec, Consumed: h.Consumed, LossScale: h.LossScale, SkippedSteps: h.SkippedSteps,
		UpdatedAt: h.At, Throughput: api.Throughput{SamplesPerSec: h.SamplesPerSec, SecondsPerStep: h.SecPerStep, TFLOPs: h.TFLOPs, MFU: h.MFU}}
}

// Live reports whether the leader holds a live record of job id's attempt
// (from the nodes' reports).
func (s *Scheduler) Live(id string) (attempt int, ok bool) {
	a, ok := s.live[id]
	if !ok {
		return 0, false
	}
	return a.n, true
}
