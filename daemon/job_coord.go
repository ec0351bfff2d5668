package daemon

import (
	"encoding/json"
	"fmt"
	"maps"
	"sort"
	"strings"
	"time"

	"bloom/api"
	"bloom/daemon/coord"
	"bloom/daemon/jobspec"
	"bloom/membership"
)

// liveJob is the coordinator's view of a running attempt, from the nodes'
// reports. It lives in the leader's memory only: reports are snapshots
// sent again and again, so a new leader rebuilds it within one interval.
type liveJob struct {
	attempt int
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
}

// pendingCkpt is a checkpoint whose shards are all durable and whose
// manifest the nodes are writing; it is committed when every node acked.
type pendingCkpt struct {
	files  []coord.CheckpointFile // and where they live, for the commit
	sha    string
	dir    string                       // the first shard's checkpoint directory, as Raft records it
	orders map[string]api.ManifestOrder // node → its order
	acked  map[string]bool
}

// liveFor returns the live record of job's attempt, replacing one of an
// older attempt; nil for a report of an attempt older than the record.
// Call with j.mu held.
func (j *jobs) liveFor(id string, attempt int) *liveJob {
	lj := j.live[id]
	if lj != nil && lj.attempt > attempt {
		return nil
	}
	if lj == nil || lj.attempt < attempt {
		lj = &liveJob{attempt: attempt, ranks: map[int]api.RankReport{}, nodes: map[int]string{},
			pending: map[int64]*pendingCkpt{}, refused: map[int64]bool{}, nonces: map[string]string{}}
		j.live[id] = lj
	}
	return lj
}

// receive merges a node's report (leader only) and answers with the
// manifests that node should write and, when the node's Raft state lags
// the leader's, the running jobs it has ranks in.
func (j *jobs) receive(r api.NodeReport) api.ReportReply {
	reply := j.merge(r)
	var applied uint64
	j.d.fsm.read(func(s *coord.State) { applied = s.Index })
	if r.Applied > 0 && r.Applied < applied {
		reply.Jobs = j.runningOn(r.Node)
	}
	return reply
}

// runningOn encodes the running jobs with a rank on node.
func (j *jobs) runningOn(node string) []json.RawMessage {
	var out []json.RawMessage
	for _, job := range j.d.State().Jobs {
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

// merge takes in a node's report and returns the manifests it should write.
func (j *jobs) merge(r api.NodeReport) api.ReportReply {
	j.mu.Lock()
	defer j.mu.Unlock()
	_, was := j.draining[r.Node]
	changed := was != r.Draining
	if r.Draining {
		j.draining[r.Node] = time.Now()
	} else {
		delete(j.draining, r.Node)
	}
	for _, rr := range r.Ranks {
		if lj := j.liveFor(rr.Job, rr.Attempt); lj != nil {
			old := lj.ranks[rr.Rank]
			changed = changed || old.Exited != rr.Exited || len(old.Shards) != len(rr.Shards)
			lj.ranks[rr.Rank], lj.nodes[rr.Rank] = rr, r.Node
			if _, ok := lj.nonces[r.Node]; !ok && r.Instance != "" {
				lj.nonces[r.Node] = r.Instance // the bloomd that runs the ranks
			}
		}
	}
	for _, ack := range r.Written {
		if lj := j.live[ack.Job]; lj != nil {
			if p := lj.pending[ack.Step]; p != nil && p.sha == ack.SHA256 {
				if _, ok := p.orders[r.Node]; ok && !p.acked[r.Node] {
					p.acked[r.Node], changed = true, true
				}
			}
		}
	}
	var reply api.ReportReply
	for id, lj := range j.live {
		if lj.growTo == 0 {
			continue
		}
		for _, node := range lj.nodes {
			if node == r.Node {
				reply.StopJobs = append(reply.StopJobs, id)
				break
			}
		}
	}
	for _, lj := range j.live {
		for _, p := range lj.pending {
			if o, ok := p.orders[r.Node]; ok && !p.acked[r.Node] {
				reply.Manifests = append(reply.Manifests, o)
			}
		}
	}
	if changed {
		j.poke()
	}
	return reply
}

// aliveNodes is gossip's view: who is alive or suspect (not dead, not left).
func (j *jobs) aliveNodes() map[string]bool { return aliveIn(j.d.cfg.Name, j.d.ml.Members()) }

// aliveIn is aliveNodes of one snapshot of the members; self is alive.
func aliveIn(self string, members []membership.Member) map[string]bool {
	alive := map[string]bool{self: true}
	for _, m := range members {
		alive[m.Name] = live(m)
	}
	return alive
}

// coordinate is the leader's pass over the jobs: place pending and
// recovering ones, watch running ones. Followers forget what they knew.
func (j *jobs) coordinate() {
	if !j.d.IsLeader() {
		j.mu.Lock()
		j.leaderSince, j.live, j.waiting, j.final = time.Time{}, map[string]*liveJob{}, map[string]string{}, map[string]*api.JobProgress{}
		j.draining = map[string]time.Time{}
		j.mu.Unlock()
		return
	}
	j.mu.Lock()
	if j.leaderSince.IsZero() {
		j.leaderSince = time.Now()
	}
	j.mu.Unlock()
	st := j.d.State()
	members := j.d.ml.Members() // one snapshot of gossip for the whole pass
	alive := aliveIn(j.d.cfg.Name, members)
	j.mu.Lock()
	// A draining node reports every interval; one that stopped reporting
	// it is gone, or back as a new process that is not draining.
	ttl := max(time.Second, 4*j.cfg.ReportInterval)
	for n, at := range j.draining {
		if !alive[n] || time.Since(at) > ttl {
			delete(j.draining, n)
		}
	}
	j.mu.Unlock()
	usable := j.usableNodes(alive, members)
	ids := make([]string, 0, len(st.Jobs))
	for id := range st.Jobs {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(a, b int) bool {
		x, y := st.Jobs[ids[a]], st.Jobs[ids[b]]
		return x.SubmittedAt < y.SubmittedAt || (x.SubmittedAt == y.SubmittedAt && x.ID < y.ID)
	})
	for _, id := range ids {
		switch job := st.Jobs[id]; job.State {
		case coord.JobPending, coord.JobRecovering:
			if j.start(st, job, alive, usable) {
				st = j.d.State()
			}
		case coord.JobRunning:
			j.watch(st, job, alive, usable, members)
		}
	}
	j.mu.Lock()
	for id, lj := range j.live {
		if job, ok := st.Jobs[id]; !ok || job.State != coord.JobRunning {
			if p := summarize(lj); p != nil {
				j.final[id] = p // what `bloomctl job` shows after the end
			}
			delete(j.live, id)
		}
	}
	j.mu.Unlock()
}

// usableNodes are the alive nodes that take new work: not draining, as
// their gossip metadata or their reports say.
func (j *jobs) usableNodes(alive map[string]bool, members []membership.Member) map[string]bool {
	usable := map[string]bool{}
	for _, m := range members {
		usable[m.Name] = alive[m.Name] && !m.Meta.Draining
	}
	usable[j.d.cfg.Name] = alive[j.d.cfg.Name] && !j.d.ml.Meta().Draining
	j.mu.Lock()
	defer j.mu.Unlock()
	for n := range j.draining {
		usable[n] = false
	}
	return usable
}

// start places a pending or recovering job on free devices of usable
// nodes and starts an attempt; it reports whether it did.
func (j *jobs) start(st *coord.State, job *coord.Job, alive, usable map[string]bool) bool {
	spec, err := jobspec.Decode(job.Spec)
	if err != nil {
		j.apply(coord.SetJobState{ID: job.ID, State: coord.JobFailed, Reason: "the job's spec is not valid: " + err.Error()})
		return false
	}
	free := freeDevices(st, func(n string) bool { return usable[n] })
	plan, err := Place(free, spec.TensorParallel, spec.PipelineParallel, spec.DataParallel)
	var later string
	if err != nil {
		var p *coord.Plan
		if p, later = shrink(job, &spec, free, time.Now()); p != nil {
			plan, err = *p, nil
			j.d.log.Warn("job re-planned on fewer data-parallel replicas", "job", job.ID, "dp", p.DP, "was", spec.DataParallel, "nodes", planNodes(p))
		}
	}
	if err != nil {
		n := 0
		for _, nd := range free {
			n += len(nd.Free)
		}
		why := fmt.Sprintf("waiting for devices: it needs %d (in groups of %d on one node), %d are free", spec.Ranks(), spec.TensorParallel, n)
		var joining []string
		for name, ok := range alive {
			if _, registered := st.Members[name]; ok && !registered {
				joining = append(joining, name)
			}
		}
		if len(joining) > 0 {
			sort.Strings(joining)
			why += " (still registering: " + strings.Join(joining, ", ") + ")"
		}
		if later != "" {
			why += "; " + later
		}
		j.setWaiting(job.ID, why)
		return false
	}
	var from int64
	if ck, ok := st.LatestCheckpoint(job.ID); ok && job.State == coord.JobRecovering {
		from = ck.Step
	}
	if err := j.apply(coord.StartAttempt{ID: job.ID, Plan: plan, FromStep: from, At: time.Now().UnixMilli()}); err != nil {
		return false
	}
	j.setWaiting(job.ID, "")
	j.d.log.Info("job started", "job", job.ID, "attempt", len(job.Attempts)+1, "tp", plan.TP, "pp", plan.PP, "dp", plan.DP, "from_step", from)
	return true
}

func (j *jobs) setWaiting(id, reason string) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if reason == "" {
		delete(j.waiting, id)
		return
	}
	if j.waiting[id] != reason {
		j.d.log.Info("job waits", "job", id, "reason", reason)
	}
	j.waiting[id] = reason
}

func (j *jobs) apply(cmd coord.Command) error {
	err := j.d.Apply(cmd)
	if err != nil {
		j.d.log.Warn("job command", "cmd", fmt.Sprintf("%T", cmd), "err", err)
	}
	return err
}

// watch ends a running attempt when a rank failed or its node is gone, or
// when every rank finished; and commits checkpoints whose shards are all in.
func (j *jobs) watch(st *coord.State, job *coord.Job, alive, usable map[string]bool, members []membership.Member) {
	n := len(job.Attempts)
	if n == 0 || job.Plan == nil {
		return
	}
	j.mu.Lock()
	lj := j.liveFor(job.ID, n)
	grace := time.Since(j.leaderSince) < j.d.cfg.LeaderGrace
	j.mu.Unlock()
	if lj == nil {
		return
	}
	if cause := j.failure(job, lj, alive, members, grace); cause != "" {
		j.fail(job, lj, cause)
		return
	}
	j.checkpoints(st, job, lj, alive)
	j.maybeGrow(st, job, lj, usable)
	if !j.allDone(job, lj) {
		return
	}
	if at, cause := j.stopped(job, lj); at > 0 {
		// Every rank checkpointed and stopped for a node's restart: the job
		// resumes from that checkpoint, which is committed by now.
		if j.apply(coord.EndAttempt{ID: job.ID, Cause: cause, LastStep: at, Planned: true,
			Next: coord.JobRecovering, At: time.Now().UnixMilli()}) == nil {
			j.d.log.Info("job stopped for a restart", "job", job.ID, "attempt", n, "step", at)
		}
		return
	}
	j.apply(coord.EndAttempt{ID: job.ID, Cause: "", Next: coord.JobSucceeded, At: time.Now().UnixMilli()})
	j.d.log.Info("job succeeded", "job", job.ID, "attempt", n)
}

// stopped returns the step after which the attempt's ranks stopped on a
// node's request, and why, or 0 when they ran to the end.
func (j *jobs) stopped(job *coord.Job, lj *liveJob) (int64, string) {
	j.mu.Lock()
	defer j.mu.Unlock()
	var at int64
	for _, rr := range lj.ranks {
		at = max(at, rr.Stopped)
	}
	if at == 0 {
		return 0, ""
	}
	var nodes []string
	seen := map[string]bool{}
	for _, r := range job.Plan.Ranks {
		if _, drains := j.draining[r.Node]; drains && !seen[r.Node] {
			seen[r.Node] = true
			nodes = append(nodes, r.Node)
		}
	}
	if len(nodes) == 0 && lj.growTo > 0 {
		return at, fmt.Sprintf("checkpointed and stopped after step %d to run on %d data-parallel replicas again", at, lj.growTo)
	}
	why := "a node"
	if len(nodes) > 0 {
		why = strings.Join(nodes, ", ")
	}
	return at, fmt.Sprintf("checkpointed and stopped after step %d: %s restarting", at, why)
}

// failure names why the attempt cannot go on, or returns "".
func (j *jobs) failure(job *coord.Job, lj *liveJob, alive map[string]bool, members []membership.Member, grace bool) string {
	j.mu.Lock()
	defer j.mu.Unlock()
	for _, r := range job.Plan.Ranks {
		rr, ok := lj.ranks[r.Rank]
		if ok && rr.Exited && !rr.ExitOK {
			cause := fmt.Sprintf("rank %d on %s: worker %s", r.Rank, r.Node, rr.Exit)
			if rr.Error != "" {
				cause += ": " + rr.Error
			}
			return cause
		}
	}
	if cause := restarted(job, lj, members); cause != "" {
		return cause
	}
	return lostNode(job.Plan.Ranks, alive, members, grace)
}

// lostNode says which rank's node is gone, if any. A node gossip has found
// dead (or that left) counts at once; one this node's gossip does not know
// counts only after LeaderGrace (grace false): a new leader that has just
// started itself may not have heard of everyone yet.
func lostNode(ranks []coord.Rank, alive map[string]bool, members []membership.Member, grace bool) string {
	for _, r := range ranks {
		if !alive[r.Node] {
			var st string
			for _, m := range members {
				if m.Name == r.Node {
					st = string(m.State)
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

// allDone: every rank exited cleanly, and every shard they reported is
// in a checkpoint committed in job (the state this pass started from): a
// report that arrived during the pass waits for the next.
func (j *jobs) allDone(job *coord.Job, lj *liveJob) bool {
	j.mu.Lock()
	defer j.mu.Unlock()
	last := lastStep(job)
	for _, r := range job.Plan.Ranks {
		rr, ok := lj.ranks[r.Rank]
		if !ok || !rr.Exited || !rr.ExitOK {
			return false
		}
		for _, sh := range rr.Shards {
			if sh.Step > last {
				return false
			}
		}
	}
	return len(lj.pending) == 0
}

// fail ends the attempt: recovering while restarts are left, else failed.
// Attempts that stopped for a node's restart are not failures and do not
// count. A failure that is the job's own (its input is wrong, or the same
// crash at the same step as the failure before) is not retried.
func (j *jobs) fail(job *coord.Job, lj *liveJob, cause string) {
	spec, _ := jobspec.Decode(job.Spec)
	var last int64
	if n := len(job.Checkpoints); n > 0 {
		last = job.Checkpoints[n-1].Step
	}
	j.mu.Lock()
	reported := lastReported(lj)
	fatal := jobFault(lj)
	j.mu.Unlock()
	next := coord.JobFailed
	switch {
	case fatal:
		cause = "the job's input is wrong, not retried: " + cause
	case repeats(job, reported, cause):
		cause = fmt.Sprintf("the same failure at step %d as the attempt before, not retried: %s", reported, cause)
	case job.Failures() < spec.MaxRestarts:
		next = coord.JobRecovering
	}
	lost := max(reported-last, 0)
	if err := j.apply(coord.EndAttempt{ID: job.ID, Cause: truncate(cause, 4000), StepsLost: lost, LastStep: reported,
		Next: next, At: time.Now().UnixMilli()}); err == nil {
		j.d.log.Warn("job attempt failed", "job", job.ID, "attempt", len(job.Attempts), "cause", cause, "next", next.String())
	}
}

// jobFault reports whether a rank failed because of the job itself (a
// bad spec, data path or checkpoint), which a restart cannot fix. Call
// with j.mu held.
func jobFault(lj *liveJob) bool {
	for _, rr := range lj.ranks {
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

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "")
}

// progress is the leader's summary of a job's running attempt, or of the
// last attempt it saw end; nil when it knows none.
func (j *jobs) progress(job *coord.Job) *api.JobProgress {
	j.mu.Lock()
	defer j.mu.Unlock()
	var p *api.JobProgress
	if lj := j.live[job.ID]; lj != nil && lj.attempt == len(job.Attempts) {
		p = summarize(lj)
	} else if f := j.final[job.ID]; f != nil && job.State != coord.JobRunning {
		cp := *f
		p = &cp
	}
	if p != nil && job.State != coord.JobRunning {
		p.Checkpointing = 0
	}
	return p
}

// summarize is a live attempt's progress, or nil. Call with j.mu held.
func summarize(lj *liveJob) *api.JobProgress {
	out := &api.JobProgress{Attempt: lj.attempt}
	best := -1
	for r, rr := range lj.ranks {
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
		}
	}
	for step := range lj.pending {
		out.Checkpointing = max(out.Checkpointing, step)
	}
	if out.Ranks == 0 && out.Checkpointing == 0 {
		return nil
	}
	return out
}

// waitingReason is why a pending job is not placed yet ("" if unknown).
func (j *jobs) waitingReason(id string) string {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.waiting[id]
}

// restarted names a node of the plan whose bloomd is not the process that
// ran its ranks (they died with it: a reboot faster than gossip's failure
// detection). Call with j.mu held.
func restarted(job *coord.Job, lj *liveJob, members []membership.Member) string {
	now := map[string]string{}
	for _, m := range members {
		if live(m) {
			now[m.Name] = m.Meta.Nonce
		}
	}
	for _, r := range job.Plan.Ranks {
		cur, was := now[r.Node], lj.nonces[r.Node]
		if cur != "" && was != "" && cur != was {
			return fmt.Sprintf("node %s (rank %d) restarted: its bloomd is a new process", r.Node, r.Rank)
		}
	}
	return ""
}

// maybeGrow makes an attempt that runs on fewer data-parallel replicas than
// its job asks for (after a --min-nodes shrink) checkpoint and stop once
// the full layout fits again, so the next attempt runs on it: the ranks
// are told in the report replies, and the attempt ends as planned.
func (j *jobs) maybeGrow(st *coord.State, job *coord.Job, lj *liveJob, usable map[string]bool) {
	spec, err := jobspec.Decode(job.Spec)
	j.mu.Lock()
	growing := lj.growTo > 0
	trained := lastReported(lj) > job.Attempts[len(job.Attempts)-1].FromStep
	j.mu.Unlock()
	if err != nil || growing || !trained || job.Plan.DP >= spec.DataParallel {
		return
	}
	others := *st
	others.Jobs = maps.Clone(st.Jobs)
	delete(others.Jobs, job.ID) // its own devices count as free
	free := freeDevices(&others, func(n string) bool { return usable[n] })
	if _, err := Place(free, spec.TensorParallel, spec.PipelineParallel, spec.DataParallel); err != nil {
		return
	}
	j.mu.Lock()
	lj.growTo = spec.DataParallel
	j.mu.Unlock()
	j.d.log.Info("job grows back: checkpointing to restart on its full layout", "job", job.ID, "dp", job.Plan.DP, "to", spec.DataParallel)
}
