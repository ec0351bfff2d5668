package sched

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"sort"
	"strings"
	"time"

	"bloom/api"
	"bloom/daemon/coord"
	"bloom/daemon/jobspec"
)

// The scheduler's rules, in the order a pass applies them to each job
// (oldest submission first):
//
//   - place: a pending or recovering job starts an attempt on free devices
//     of usable nodes (alive, not draining), resuming a recovering job from
//     its last committed checkpoint; a recovering job with --min-nodes that
//     cannot get its layout back is shrunk to fewer data-parallel replicas
//     after --node-grace (shrink.go); else it waits, and says why;
//   - end attempt: a running attempt whose worker failed, or whose node is
//     dead, gone or restarted, ends; the job recovers while restarts are
//     left, unless the failure is the job's own (its input is wrong, or the
//     same crash at the same step as the attempt before: not retried);
//   - commit checkpoint: once every shard of a step is durable (and copied
//     to a second node where there is one) and every holder wrote the
//     manifest (checkpoint.go);
//   - grow back: a shrunk attempt checkpoints and stops once its full
//     layout fits again, and the next attempt runs on it;
//   - drain: ranks that checkpointed and stopped for a node's restart (or
//     to grow back) end the attempt as planned, not as a failure;
//   - succeed: every rank exited cleanly and every shard is committed.

// Config is what the scheduler is told about time.
type Config struct {
	// LeaderGrace: a new leader counts a node its gossip has never heard
	// of as lost only once it has led this long.
	LeaderGrace time.Duration
	// DrainTTL: a node's report that it drains holds this long; a node
	// that stopped saying so is gone, or back as a process that does not
	// drain.
	DrainTTL time.Duration
	// FirstCause: how long an attempt whose failed ranks all failed
	// because of another waits for the report of the one that failed
	// first (0: not at all).
	FirstCause time.Duration
}

// Scheduler is the leader's job scheduler: a state machine with no I/O, no
// clock and no goroutine, in the manner of etcd/raft's RawNode. The daemon
// feeds it the nodes' reports (Report) and, every interval, the committed
// state, gossip's view and the time (Pass); Pass returns the commands to
// apply through Raft and what to log, in order, and the daemon tells it how
// each apply went (Applied). It is not safe for concurrent use.
type Scheduler struct {
	cfg         Config
	live        map[string]*attempt         // what the ranks of running attempts report
	waiting     map[string]string           // why a pending job is not placed yet
	final       map[string]*api.JobProgress // the last progress of attempts that ended
	draining    map[string]time.Time        // nodes going down for a restart → their last report saying so
	leaderSince time.Time                   // the first pass of this leadership; zero before it
	kept        map[string]keptKey          // jobs whose retention found nothing to retire, as they were then
}

// New returns a scheduler that knows nothing yet.
func New(cfg Config) *Scheduler {
	s := &Scheduler{cfg: cfg}
	s.Reset()
	return s
}

// Reset forgets everything: this node no longer leads.
func (s *Scheduler) Reset() {
	s.live, s.waiting, s.final = map[string]*attempt{}, map[string]string{}, map[string]*api.JobProgress{}
	s.draining, s.leaderSince = map[string]time.Time{}, time.Time{}
	s.kept = map[string]keptKey{}
}

// Action is one step of a pass's output, done in order: apply Cmd through
// Raft when it is set, then log Msg at Level with Args — when Cmd applied,
// or in any case when Cmd is nil or Always is set. Msg "" logs nothing.
type Action struct {
	Cmd    coord.Command
	Level  slog.Level
	Msg    string
	Args   []any
	Always bool
}

func note(level slog.Level, msg string, args ...any) Action {
	return Action{Level: level, Msg: msg, Args: args}
}

// Pass is the leader's look at every job at time now: it places pending
// and recovering ones and watches running ones. st is the committed state,
// the caller's copy: Pass applies its own commands to it after each
// placement, so the next job sees the devices taken (as if it re-read
// Raft). The caller applies the returned actions in order and reports
// each command's outcome to Applied.
func (s *Scheduler) Pass(st *coord.State, g Gossip, now time.Time) []Action {
	if s.leaderSince.IsZero() {
		s.leaderSince = now
	}
	alive := g.Alive()
	for n, at := range s.draining {
		if !alive[n] || now.Sub(at) > s.cfg.DrainTTL {
			delete(s.draining, n)
		}
	}
	usable := s.usable(g, alive)
	view := newPassView(g, alive, usable)
	var out []Action
	done := 0 // out[:done] are applied to st
	for _, id := range bySubmission(st) {
		switch job := st.Jobs[id]; job.State {
		case coord.JobPending, coord.JobRecovering:
			acts, started := s.start(st, job, view, now)
			out = append(out, acts...)
			if started {
				for _, a := range out[done:] {
					if a.Cmd != nil {
						st.Apply(st.Index, a.Cmd)
					}
				}
				done = len(out)
				view.placed()
			}
		case coord.JobRunning:
			out = append(out, s.watch(st, job, view, g, now)...)
		}
		out = append(out, s.retire(st.Jobs[id])...)
	}
	for id, a := range s.live {
		if _, ok := st.Jobs[id]; ok {
			out = append(out, a.flushHistory(id, now, st.Jobs[id].State != coord.JobRunning)...)
		}
	}
	for id, a := range s.live {
		if job, ok := st.Jobs[id]; !ok || job.State != coord.JobRunning {
			if p := a.summarize(); p != nil {
				s.final[id] = p // what `bloomctl job` shows after the end
			}
			delete(s.live, id)
		}
	}
	return out
}

// Applied tells the scheduler how the apply of an action's command went.
func (s *Scheduler) Applied(cmd coord.Command, err error) {
	switch c := cmd.(type) {
	case coord.StartAttempt:
		if err == nil {
			delete(s.waiting, c.ID)
		}
	case coord.CommitCheckpoint:
		if a := s.live[c.ID]; a != nil && (err == nil || errors.Is(err, coord.ErrStaleCheckpoint)) {
			delete(a.pending, c.Checkpoint.Step)
		}
	}
}

// bySubmission lists the jobs oldest first.
func bySubmission(st *coord.State) []string {
	ids := make([]string, 0, len(st.Jobs))
	for id := range st.Jobs {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(a, b int) bool {
		x, y := st.Jobs[ids[a]], st.Jobs[ids[b]]
		return x.SubmittedAt < y.SubmittedAt || (x.SubmittedAt == y.SubmittedAt && x.ID < y.ID)
	})
	return ids
}

// usable are the alive nodes that take new work: not draining, as their
// gossip metadata or their reports say.
func (s *Scheduler) usable(g Gossip, alive map[string]bool) map[string]bool {
	usable := map[string]bool{}
	for _, m := range g.Members {
		usable[m.Name] = alive[m.Name] && !m.Draining
	}
	usable[g.Self] = alive[g.Self] && !g.SelfDraining
	for n := range s.draining {
		usable[n] = false
	}
	return usable
}

// start places a pending or recovering job on free devices of usable
// nodes and starts an attempt; it reports whether it does.
func (s *Scheduler) start(st *coord.State, job *coord.Job, view *passView, now time.Time) ([]Action, bool) {
	spec, err := jobspec.Decode(job.Spec)
	if err != nil {
		return []Action{{Cmd: coord.SetJobState{ID: job.ID, State: coord.JobFailed, Reason: "the job's spec is not valid: " + err.Error()}}}, false
	}
	free := view.freeDevices(st)
	plan, err := Place(free, spec.TensorParallel, spec.PipelineParallel, spec.DataParallel)
	var acts []Action
	var later string
	if err != nil {
		var p *coord.Plan
		if p, later = shrink(job, &spec, free, now); p != nil {
			plan, err = *p, nil
			acts = append(acts, note(slog.LevelWarn, "job re-planned on fewer data-parallel replicas",
				"job", job.ID, "dp", p.DP, "was", spec.DataParallel, "nodes", planNodes(p)))
		}
	}
	if err != nil {
		return append(acts, s.wait(job.ID, waitReason(&spec, free, view.joiningNames(st), later))...), false
	}
	var from int64
	if ck, ok := st.LatestCheckpoint(job.ID); ok && job.State == coord.JobRecovering {
		from = ck.Step
	}
	return append(acts, Action{Cmd: coord.StartAttempt{ID: job.ID, Plan: plan, FromStep: from, At: now.UnixMilli()},
		Level: slog.LevelInfo, Msg: "job started",
		Args: []any{"job", job.ID, "attempt", len(job.Attempts) + 1, "tp", plan.TP, "pp", plan.PP, "dp", plan.DP, "from_step", from}}), true
}

// waitReason says what a job that does not fit waits for.
func waitReason(spec *jobspec.Spec, free []NodeDevices, joining, later string) string {
	n := 0
	for _, nd := range free {
		n += len(nd.Free)
	}
	why := fmt.Sprintf("waiting for devices: it needs %d (in groups of %d on one node), %d are free", spec.Ranks(), spec.TensorParallel, n)
	if joining != "" {
		why += " (still registering: " + joining + ")"
	}
	if later != "" {
		why += "; " + later
	}
	return why
}

// wait records why a job waits, and logs it when that changed.
func (s *Scheduler) wait(id, reason string) []Action {
	old := s.waiting[id]
	s.waiting[id] = reason
	if old == reason {
		return nil
	}
	return []Action{note(slog.LevelInfo, "job waits", "job", id, "reason", reason)}
}

// watch ends a running attempt when a rank failed or its node is gone, or
// when every rank finished; and commits checkpoints whose shards are all in.
func (s *Scheduler) watch(st *coord.State, job *coord.Job, view *passView, g Gossip, now time.Time) []Action {
	n := len(job.Attempts)
	if n == 0 || job.Plan == nil {
		return nil
	}
	a := s.liveFor(job.ID, n)
	if a == nil {
		return nil
	}
	grace := now.Sub(s.leaderSince) < s.cfg.LeaderGrace
	alive := view.alive
	if cause := s.failure(job, a, view, g.Members, grace, now); cause != "" {
		return append(unusable(job, a), fail(job, a, cause, now))
	}
	acts := s.checkpoints(st, job, a, alive, now)
	acts = append(acts, s.maybeGrow(st, job, a, view.usable)...)
	if !allDone(job, a) {
		return acts
	}
	if at, cause := s.stopped(job, a); at > 0 {
		// Every rank checkpointed and stopped for a node's restart: the job
		// resumes from that checkpoint, which is committed by now.
		return append(acts, Action{Cmd: coord.EndAttempt{ID: job.ID, Cause: cause, LastStep: at, Planned: true,
			Next: coord.JobRecovering, At: now.UnixMilli()},
			Level: slog.LevelInfo, Msg: "job stopped for a restart", Args: []any{"job", job.ID, "attempt", n, "step", at}})
	}
	return append(acts, Action{Cmd: coord.EndAttempt{ID: job.ID, Cause: "", Next: coord.JobSucceeded, At: now.UnixMilli(), Result: result(job, a)},
		Level: slog.LevelInfo, Msg: "job succeeded", Args: []any{"job", job.ID, "attempt", n}, Always: true})
}

// stopped returns the step after which the attempt's ranks stopped on a
// node's request, and why, or 0 when they ran to the end.
func (s *Scheduler) stopped(job *coord.Job, a *attempt) (int64, string) {
	var at int64
	for _, rr := range a.ranks {
		at = max(at, rr.Stopped)
	}
	if at == 0 {
		return 0, ""
	}
	var nodes []string
	seen := map[string]bool{}
	for _, r := range job.Plan.Ranks {
		if _, drains := s.draining[r.Node]; drains && !seen[r.Node] {
			seen[r.Node] = true
			nodes = append(nodes, r.Node)
		}
	}
	if len(nodes) == 0 && a.growTo > 0 {
		return at, fmt.Sprintf("checkpointed and stopped after step %d to run on %d data-parallel replicas again", at, a.growTo)
	}
	why := "a node"
	if len(nodes) > 0 {
		why = strings.Join(nodes, ", ")
	}
	return at, fmt.Sprintf("checkpointed and stopped after step %d: %s restarting", at, why)
}

// failure names why the attempt cannot go on, or returns "". The cause is
// the first failure that is a rank's own (its error: ENOSPC, out of
// memory, a corrupt checkpoint, a signal), not the peers that noticed it
// afterwards; a node gone or restarted is one too. While only ranks that
// failed because of another have reported, it waits up to FirstCause for
// the one that failed first, whose report may come from a slower node.
func (s *Scheduler) failure(job *coord.Job, a *attempt, view *passView, members []Member, grace bool, now time.Time) string {
	var own, after []coord.Rank
	for _, r := range job.Plan.Ranks {
		if rr, ok := a.ranks[r.Rank]; ok && rr.Exited && !rr.ExitOK {
			if rr.Secondary {
				after = append(after, r)
			} else {
				own = append(own, r)
			}
		}
	}
	if len(own) > 0 {
		return rankCause(a, first(a, own), len(own)+len(after)-1)
	}
	if cause := restarted(job, a, view.instances); cause != "" {
		return cause
	}
	if cause := lostNode(job.Plan.Ranks, view.alive, members, grace); cause != "" || len(after) == 0 {
		return cause
	}
	if a.firstFail.IsZero() {
		a.firstFail = now
	}
	if now.Sub(a.firstFail) < s.cfg.FirstCause && len(after) < len(job.Plan.Ranks) {
		return "" // the rank that failed first may not have reported yet
	}
	return rankCause(a, first(a, after), len(after)-1)
}

// first is the rank of ranks that failed earliest, as their nodes saw it.
func first(a *attempt, ranks []coord.Rank) coord.Rank {
	best := ranks[0]
	for _, r := range ranks[1:] {
		if at := a.ranks[r.Rank].FailedAt; at > 0 && (a.ranks[best.Rank].FailedAt == 0 || at < a.ranks[best.Rank].FailedAt) {
			best = r
		}
	}
	return best
}

// rankCause describes rank r's failure, and how many others failed with it.
func rankCause(a *attempt, r coord.Rank, others int) string {
	rr := a.ranks[r.Rank]
	cause := fmt.Sprintf("rank %d on %s: worker %s", r.Rank, r.Node, rr.Exit)
	if rr.Error != "" {
		cause += ": " + rr.Error
	}
	if others > 0 {
		cause += fmt.Sprintf(" (%d other rank(s) failed after it)", others)
	}
	return cause
}

// lostNode says which rank's node is gone, if any. A node gossip has found
// dead (or that left) counts at once; one this node's gossip does not know
// counts only after LeaderGrace (grace false): a new leader that has just
// started itself may not have heard of everyone yet.
func lostNode(ranks []coord.Rank, alive map[string]bool, members []Member, grace bool) string {
	for _, r := range ranks {
		if !alive[r.Node] {
			var st string
			for _, m := range members {
				if m.Name == r.Node {
					st = m.State
				}
			}
			if st == "" {
				if grace {
					continue
				}
				st = "gone"
			}
			return fmt.Sprintf("node %s (rank %d) is %s", r.Node, r.Rank, st)
		}
	}
	return ""
}

// restarted names a node of the plan whose bloomd is not the process that
// ran its ranks (they died with it: a reboot faster than gossip's failure
// detection). now maps each live member to its bloomd's process nonce.
func restarted(job *coord.Job, a *attempt, now map[string]string) string {
	for _, r := range job.Plan.Ranks {
		cur, was := now[r.Node], a.nonces[r.Node]
		if cur != "" && was != "" && cur != was {
			return fmt.Sprintf("node %s (rank %d) restarted: its bloomd is a new process", r.Node, r.Rank)
		}
	}
	return ""
}

// result is the answer of the attempt's lowest rank that gave one (every
// rank of an inference job answers alike; rank 0 reports it), or nil.
func result(job *coord.Job, a *attempt) json.RawMessage {
	for _, r := range job.Plan.Ranks {
		if rr, ok := a.ranks[r.Rank]; ok && len(rr.Result) > 0 {
			return rr.Result
		}
	}
	return nil
}

// allDone: every rank exited cleanly, and every shard they reported is
// in a checkpoint committed in job (the state this pass started from): a
// report that arrived since waits for the next pass.
func allDone(job *coord.Job, a *attempt) bool {
	last := job.LastStep()
	for _, r := range job.Plan.Ranks {
		rr, ok := a.ranks[r.Rank]
		if !ok || !rr.Exited || !rr.ExitOK {
			return false
		}
		for _, sh := range rr.Shards {
			if sh.Step > last {
				return false
			}
		}
	}
	return len(a.pending) == 0
}

// fail ends the attempt: recovering while restarts are left, else failed.
// Attempts that stopped for a node's restart are not failures and do not
// count. A failure that is the job's own (its input is wrong, or the same
// crash at the same step as the failure before) is not retried.
func fail(job *coord.Job, a *attempt, cause string, now time.Time) Action {
	spec, _ := jobspec.Decode(job.Spec)
	last := max(job.LastStep(), 0)
	reported := a.lastReported()
	next := coord.JobFailed
	switch bad, why := unusableStep(job, a); {
	case bad > 0:
		// Not the job's fault and not a crash to repeat: the next attempt
		// resumes from the checkpoint before (unusable retires this one).
		from := "the start"
		for _, k := range job.Checkpoints {
			if k.Step < bad {
				from = fmt.Sprintf("step %d", k.Step)
			}
		}
		cause = fmt.Sprintf("checkpoint step %d is unusable and is skipped (%s); the next attempt resumes from %s", bad, why, from)
		next = coord.JobRecovering
	case jobFault(a):
		cause = "the job's input is wrong, not retried: " + cause
	case repeats(job, reported, cause):
		cause = fmt.Sprintf("the same failure at step %d as the attempt before, not retried: %s", reported, cause)
	case job.Failures() < spec.MaxRestarts:
		next = coord.JobRecovering
	}
	return Action{Cmd: coord.EndAttempt{ID: job.ID, Cause: coord.Truncate(cause, 4000), StepsLost: max(reported-last, 0),
		LastStep: reported, Next: next, At: now.UnixMilli()},
		Level: slog.LevelWarn, Msg: "job attempt failed",
		Args: []any{"job", job.ID, "attempt", len(job.Attempts), "cause", cause, "next", next.String()}}
}

// unusableStep is the checkpoint the attempt resumed from when a rank found
// no verified copy of a file of it anywhere, and what it said; 0 when none.
func unusableStep(job *coord.Job, a *attempt) (int64, string) {
	from := job.Attempts[len(job.Attempts)-1].FromStep
	for _, r := range job.Plan.Ranks {
		if rr := a.ranks[r.Rank]; from > 0 && rr.Unusable == from {
			for _, k := range job.Checkpoints {
				if k.Step == from {
					return from, fmt.Sprintf("rank %d on %s: %s", r.Rank, r.Node, rr.Error)
				}
			}
		}
	}
	return 0, ""
}

// unusable retires the checkpoint the attempt resumed from when no node
// holds a verified copy of a file of it, so that the next attempt resumes
// from the newest one before it that does.
func unusable(job *coord.Job, a *attempt) []Action {
	step, why := unusableStep(job, a)
	if step == 0 {
		return nil
	}
	return []Action{{Cmd: coord.RetireCheckpoints{ID: job.ID, Steps: []int64{step}, Unusable: true, Reason: coord.Truncate(why, 4000)},
		Level: slog.LevelWarn, Msg: "checkpoint unusable: no node holds a copy that verifies; skipped",
		Args: []any{"job", job.ID, "step", step, "why", why}}}
}

// jobFault reports whether a rank failed because of the job itself (a
// bad spec, data path or checkpoint), which a restart cannot fix.
func jobFault(a *attempt) bool {
	for _, rr := range a.ranks {
		if rr.Exited && !rr.ExitOK && rr.Fatal {
			return true
		}
	}
	return false
}

// repeats reports whether the attempt failing at step with cause fails as
// the attempt before it did: the same rank's worker at the same step, from
// the same checkpoint, after it made progress (a crash the job will hit
// every time).
func repeats(job *coord.Job, step int64, cause string) bool {
	n := len(job.Attempts)
	if n < 2 || step == 0 {
		return false
	}
	prev, cur := job.Attempts[n-2], job.Attempts[n-1]
	killed := strings.Contains(cause, "signal: killed") // from outside: an operator, the OOM killer, chaos
	return !killed && !prev.Planned && prev.LastStep == step && prev.FromStep == cur.FromStep &&
		rankOf(prev.Cause) != "" && rankOf(prev.Cause) == rankOf(cause)
}

// rankOf is the "rank N on NODE: worker" prefix of a worker failure's
// cause, or "".
func rankOf(cause string) string {
	head, _, ok := strings.Cut(cause, ": worker ")
	if !ok || !strings.HasPrefix(head, "rank ") {
		return ""
	}
	return head
}

// maybeGrow makes an attempt that runs on fewer data-parallel replicas than
// its job asks for (after a --min-nodes shrink) checkpoint and stop once
// the full layout fits again, so the next attempt runs on it: the ranks
// are told in the report replies, and the attempt ends as planned.
func (s *Scheduler) maybeGrow(st *coord.State, job *coord.Job, a *attempt, usable map[string]bool) []Action {
	if a.growTo > 0 || a.lastReported() <= job.Attempts[len(job.Attempts)-1].FromStep {
		return nil // already growing, or not trained since it started: nothing to decide
	}
	spec, err := jobspec.Decode(job.Spec)
	if err != nil || job.Plan.DP >= spec.DataParallel {
		return nil
	}
	others := *st
	others.Jobs = maps.Clone(st.Jobs)
	delete(others.Jobs, job.ID) // its own devices count as free
	free := FreeDevices(&others, func(n string) bool { return usable[n] })
	if _, err := Place(free, spec.TensorParallel, spec.PipelineParallel, spec.DataParallel); err != nil {
		return nil
	}
	a.growTo = spec.DataParallel
	return []Action{note(slog.LevelInfo, "job grows back: checkpointing to restart on its full layout",
		"job", job.ID, "dp", job.Plan.DP, "to", spec.DataParallel)}
}
