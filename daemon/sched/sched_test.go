package sched

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"bloom/api"
	"bloom/ckpt"
	"bloom/daemon/coord"
	"bloom/daemon/jobspec"
)

// The scheduler's rules, one table per rule, without a cluster: a fixture
// is the committed state, gossip's view and a scheduler; pass runs one
// Pass and applies its commands to the state, as the daemon does through
// Raft.

var t0 = time.UnixMilli(1_700_000_000_000)

const sha = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

type fixture struct {
	t   *testing.T
	st  *coord.State
	g   Gossip
	s   *Scheduler
	now time.Time
}

// newFixture is a cluster of nodes n1..nN, two CPU devices each, alive,
// registered with a transfer address (so checkpoints wait for replicas),
// led by n1 for longer than the leader grace.
func newFixture(t *testing.T, n int) *fixture {
	f := &fixture{t: t, st: coord.NewState(), g: Gossip{Self: "n1"}, now: t0,
		s: New(Config{LeaderGrace: 5 * time.Second, DrainTTL: time.Second})}
	for i := 1; i <= n; i++ {
		name := fmt.Sprintf("n%d", i)
		f.st.Members[name] = &coord.Member{Name: name, Devices: "cpu:2", QUICAddr: "10.0.0.1:1"}
		f.g.Members = append(f.g.Members, Member{Name: name, State: "alive", Instance: "i-" + name})
	}
	f.s.leaderSince = t0.Add(-time.Minute)
	return f
}

// spec is a small valid job: DP 2 of one device each unless edited.
func spec(t *testing.T, edit func(*jobspec.Spec)) []byte {
	s := jobspec.Default()
	s.ModelPreset, s.TrainIters, s.DataParallel, s.MicroBatch, s.GlobalBatch, s.MaxRestarts = "bloom-tiny", 100, 2, 1, 4, 3
	if edit != nil {
		edit(&s)
	}
	b, err := s.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := jobspec.Decode(b); err != nil {
		t.Fatal(err)
	}
	return b
}

func (f *fixture) apply(cmd coord.Command) {
	f.t.Helper()
	if res := f.st.Apply(f.st.Index+1, cmd); res.Err != nil {
		f.t.Fatalf("%T: %v", cmd, res.Err)
	}
}

func (f *fixture) submit(id string, raw []byte) {
	f.apply(coord.SubmitJob{ID: id, Name: id, Spec: raw, At: f.now.UnixMilli()})
}

// plan puts rank r on node nodes[r], on that node's next device.
func plan(dp int, nodes ...string) coord.Plan {
	p := coord.Plan{TP: 1, PP: 1, DP: dp}
	used := map[string]int{}
	for r, n := range nodes {
		p.Ranks = append(p.Ranks, coord.Rank{Rank: r, Node: n, Device: used[n]})
		used[n]++
	}
	return p
}

func (f *fixture) start(id string, p coord.Plan, from int64) {
	f.apply(coord.StartAttempt{ID: id, Plan: p, FromStep: from, At: f.now.UnixMilli()})
}

func (f *fixture) commit(id string, step int64) {
	f.apply(coord.CommitCheckpoint{ID: id, Checkpoint: coord.Checkpoint{Step: step, Dir: fmt.Sprintf("/ck/%d", step), Manifest: sha}})
}

// report sends node's report of its ranks of id's current attempt.
func (f *fixture) report(node, id string, ranks ...api.RankReport) api.ReportReply {
	n := len(f.st.Jobs[id].Attempts)
	for i := range ranks {
		ranks[i].Job, ranks[i].Attempt = id, n
	}
	instance := ""
	for _, m := range f.g.Members {
		if m.Name == node {
			instance = m.Instance
		}
	}
	reply, _ := f.s.Report(api.NodeReport{Node: node, Ranks: ranks, Instance: instance}, f.now)
	return reply
}

func at(rank int, step int64) api.RankReport {
	return api.RankReport{Rank: rank, Progress: &api.StepProgress{Step: step, HasLoss: true}}
}

func exited(rr api.RankReport, exit string) api.RankReport {
	rr.Exited, rr.ExitOK, rr.Exit = true, exit == "", exit
	if exit == "" {
		rr.Exit = "exited 0"
	}
	return rr
}

// pass runs one Pass and applies what it returns, as the daemon does.
func (f *fixture) pass() []Action {
	acts := f.s.Pass(f.st.Clone(), f.g, f.now)
	for _, a := range acts {
		if a.Cmd != nil {
			res := f.st.Apply(f.st.Index+1, a.Cmd)
			f.s.Applied(a.Cmd, res.Err)
		}
	}
	return acts
}

func commands(acts []Action) []coord.Command {
	var out []coord.Command
	for _, a := range acts {
		if a.Cmd != nil {
			out = append(out, a.Cmd)
		}
	}
	return out
}

func msgs(acts []Action) string {
	var out []string
	for _, a := range acts {
		if a.Msg != "" {
			out = append(out, a.Msg)
		}
	}
	return strings.Join(out, "; ")
}

// only returns the one command of acts, of type T.
func only[T coord.Command](t *testing.T, acts []Action) T {
	t.Helper()
	cmds := commands(acts)
	if len(cmds) != 1 {
		t.Fatalf("commands %#v, want one %T", cmds, *new(T))
	}
	c, ok := cmds[0].(T)
	if !ok {
		t.Fatalf("command %#v, want a %T", cmds[0], *new(T))
	}
	return c
}

// TestPlaceAndWait: a pending job starts on free devices of usable nodes
// in Megatron order; one that does not fit waits and says why, once; a
// job whose spec is not valid fails; two jobs never get the same devices
// in one pass.
func TestPlaceAndWait(t *testing.T) {
	f := newFixture(t, 2)
	f.submit("a", spec(t, func(s *jobspec.Spec) { s.DataParallel = 4 }))
	f.submit("b", spec(t, nil))
	acts := f.pass()
	sa := only[coord.StartAttempt](t, acts)
	if sa.ID != "a" || sa.FromStep != 0 || sa.Plan.DP != 4 || sa.At != t0.UnixMilli() {
		t.Fatalf("start %+v", sa)
	}
	if f.s.Waiting("b") == "" || !strings.Contains(msgs(acts), "job started; job waits") {
		t.Fatalf("b waits %q; logs %q", f.s.Waiting("b"), msgs(acts))
	}
	if want := "waiting for devices: it needs 2 (in groups of 1 on one node), 0 are free"; f.s.Waiting("b") != want {
		t.Errorf("b waits %q, want %q", f.s.Waiting("b"), want)
	}
	if acts := f.pass(); len(acts) != 0 {
		t.Errorf("second pass: %#v (the same reason is logged once)", acts)
	}

	f = newFixture(t, 1)
	f.submit("bad", []byte(`{"no-such-setting":1}`))
	if c := only[coord.SetJobState](t, f.pass()); c.State != coord.JobFailed || !strings.Contains(c.Reason, "spec is not valid") {
		t.Errorf("bad spec: %+v", c)
	}

	f = newFixture(t, 2)
	f.g.Members = append(f.g.Members, Member{Name: "n3", State: "alive"}) // in gossip, not in Raft yet
	f.submit("big", spec(t, func(s *jobspec.Spec) { s.DataParallel = 8; s.GlobalBatch = 8 }))
	f.pass()
	if w := f.s.Waiting("big"); !strings.Contains(w, "(still registering: n3)") {
		t.Errorf("waits %q", w)
	}
}

// TestRestart: an attempt ends when a worker fails or its node is lost;
// the job recovers while restarts are left and resumes from the last
// committed checkpoint; the job's own faults are not retried.
func TestRestart(t *testing.T) {
	failed := func(rank int, step int64, exit string) func(*fixture) {
		return func(f *fixture) {
			node := fmt.Sprintf("n%d", rank+1)
			f.report(node, "j", exited(at(rank, step), exit))
		}
	}
	for _, c := range []struct {
		name      string
		edit      func(*jobspec.Spec)
		before    func(*fixture) // attempts before the one that fails
		event     func(*fixture)
		next      coord.JobState // zero: the attempt goes on
		cause     string
		lost, end int64
	}{
		{"worker failed: resume from step 10", nil, nil,
			failed(1, 15, "exit status 1"), coord.JobRecovering, "rank 1 on n2: worker exit status 1", 5, 15},
		{"node dead", nil, nil,
			func(f *fixture) { f.g.Members[1].State = "dead" }, coord.JobRecovering, "node n2 (rank 1) is dead", 0, 10},
		{"node left", nil, nil,
			func(f *fixture) { f.g.Members[1].State = "left" }, coord.JobRecovering, "node n2 (rank 1) is left", 0, 10},
		{"node unknown to a new leader: wait out the grace", nil, nil,
			func(f *fixture) { f.g.Members = f.g.Members[:1]; f.s.leaderSince = f.now.Add(-time.Second) }, 0, "", 0, 0},
		{"node unknown after the grace", nil, nil,
			func(f *fixture) { f.g.Members = f.g.Members[:1] }, coord.JobRecovering, "node n2 (rank 1) is gone", 0, 10},
		{"node restarted faster than gossip noticed", nil, nil,
			func(f *fixture) { f.report("n2", "j", at(1, 12)); f.g.Members[1].Instance = "i-new" },
			coord.JobRecovering, "node n2 (rank 1) restarted: its bloomd is a new process", 2, 12},
		{"the job's input is wrong: not retried", nil, nil,
			func(f *fixture) {
				rr := exited(at(0, 11), "exit status 2")
				rr.Fatal, rr.Error = true, "no such data file"
				f.report("n1", "j", rr)
			}, coord.JobFailed, "the job's input is wrong, not retried: rank 0 on n1: worker exit status 2: no such data file", 1, 11},
		{"the same crash at the same step: not retried", nil,
			func(f *fixture) {
				f.start("j", plan(2, "n1", "n2"), 10)
				f.apply(coord.EndAttempt{ID: "j", Cause: "rank 1 on n2: worker exit status 1", LastStep: 15, Next: coord.JobRecovering, At: f.now.UnixMilli()})
			}, failed(1, 15, "exit status 1"), coord.JobFailed,
			"the same failure at step 15 as the attempt before, not retried: rank 1 on n2: worker exit status 1", 5, 15},
		{"the same step, killed from outside: retried", nil,
			func(f *fixture) {
				f.start("j", plan(2, "n1", "n2"), 10)
				f.apply(coord.EndAttempt{ID: "j", Cause: "rank 1 on n2: worker signal: killed", LastStep: 15, Next: coord.JobRecovering, At: f.now.UnixMilli()})
			}, failed(1, 15, "signal: killed"), coord.JobRecovering, "rank 1 on n2: worker signal: killed", 5, 15},
		{"restarts spent", func(s *jobspec.Spec) { s.MaxRestarts = 1 },
			func(f *fixture) {
				f.start("j", plan(2, "n1", "n2"), 10)
				f.apply(coord.EndAttempt{ID: "j", Cause: "node n2 (rank 1) is dead", Next: coord.JobRecovering, At: f.now.UnixMilli()})
			}, failed(0, 13, "exit status 1"), coord.JobFailed, "rank 0 on n1: worker exit status 1", 3, 13},
		{"planned stops do not count as restarts", func(s *jobspec.Spec) { s.MaxRestarts = 1 },
			func(f *fixture) {
				f.start("j", plan(2, "n1", "n2"), 10)
				f.apply(coord.EndAttempt{ID: "j", Cause: "checkpointed and stopped", Planned: true, Next: coord.JobRecovering, At: f.now.UnixMilli()})
			}, failed(0, 13, "exit status 1"), coord.JobRecovering, "rank 0 on n1: worker exit status 1", 3, 13},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := newFixture(t, 2)
			f.submit("j", spec(t, c.edit))
			f.commit("j", 10)
			if c.before != nil {
				c.before(f)
			}
			f.start("j", plan(2, "n1", "n2"), 10)
			f.report("n1", "j", at(0, 10))
			f.report("n2", "j", at(1, 10))
			c.event(f)
			acts := f.pass()
			if c.next == 0 {
				if len(acts) != 0 {
					t.Fatalf("actions %#v, want none", acts)
				}
				return
			}
			ea := only[coord.EndAttempt](t, acts)
			if ea.Next != c.next || ea.Cause != c.cause || ea.StepsLost != c.lost || ea.LastStep != c.end || ea.Planned {
				t.Fatalf("end %+v\nwant next %v, cause %q, lost %d, last step %d", ea, c.next, c.cause, c.lost, c.end)
			}
			if msgs(acts) != "job attempt failed" {
				t.Errorf("logs %q", msgs(acts))
			}
			if p := f.s.Progress(f.st.Jobs["j"]); p == nil || p.Attempt != len(f.st.Jobs["j"].Attempts) || p.Checkpointing != 0 {
				t.Errorf("progress of the ended attempt %+v", p)
			}
			if c.next != coord.JobRecovering {
				return
			}
			// The next pass restarts it from the last committed checkpoint,
			// on the nodes that are usable.
			f.g.Members = []Member{{Name: "n1", State: "alive"}, {Name: "n2", State: "alive"}, {Name: "n3", State: "alive"}}
			f.st.Members["n3"] = &coord.Member{Name: "n3", Devices: "cpu:2"}
			sa := only[coord.StartAttempt](t, f.pass())
			if sa.FromStep != 10 || sa.Plan.DP != 2 {
				t.Errorf("restart %+v, want from step 10 on DP 2", sa)
			}
		})
	}
}

// TestShrinkAndGrowBack: a recovering job with --min-nodes that cannot get
// its devices back waits --node-grace, then runs on fewer data-parallel
// replicas; once the full layout fits again the shrunk attempt is asked to
// checkpoint and stop, and ends as planned; the next attempt runs on the
// full layout from that checkpoint.
func TestShrinkAndGrowBack(t *testing.T) {
	f := newFixture(t, 3)
	for _, m := range f.st.Members {
		m.Devices = "cpu:1"
	}
	f.submit("j", spec(t, func(s *jobspec.Spec) { s.DataParallel, s.GlobalBatch, s.MinNodes, s.NodeGrace = 3, 6, 2, 30 }))
	f.commit("j", 4)
	f.start("j", plan(3, "n1", "n2", "n3"), 0)
	f.g.Members[2].State = "dead"
	if ea := only[coord.EndAttempt](t, f.pass()); ea.Next != coord.JobRecovering {
		t.Fatalf("end %+v", ea)
	}

	// Inside the grace: it waits, and says for how long.
	f.now = f.now.Add(10 * time.Second)
	acts := f.pass()
	if len(commands(acts)) != 0 || !strings.Contains(f.s.Waiting("j"), "re-planned on fewer data-parallel replicas in 20s") {
		t.Fatalf("inside the grace: %q, %#v", f.s.Waiting("j"), acts)
	}
	// After it: DP 2 (it divides the global batch of 6 into micro-batches
	// of 1) on two nodes, from the last checkpoint.
	f.now = f.now.Add(25 * time.Second)
	acts = f.pass()
	sa := only[coord.StartAttempt](t, acts)
	if sa.Plan.DP != 2 || sa.FromStep != 4 || !strings.HasPrefix(msgs(acts), "job re-planned on fewer data-parallel replicas; job started") {
		t.Fatalf("shrunk start %+v; logs %q", sa, msgs(acts))
	}
	if f.s.Waiting("j") != "" {
		t.Errorf("still waiting: %q", f.s.Waiting("j"))
	}

	// n3 comes back, but the attempt has not trained yet: no grow.
	f.g.Members[2].State = "alive"
	f.report("n1", "j", at(0, 4))
	if acts := f.pass(); len(acts) != 0 {
		t.Fatalf("grew before training: %#v", acts)
	}
	// Once it trained, it grows back: the ranks are told to stop.
	f.report("n1", "j", at(0, 6))
	if acts := f.pass(); msgs(acts) != "job grows back: checkpointing to restart on its full layout" {
		t.Fatalf("grow: %#v", acts)
	}
	if reply := f.report("n2", "j", at(1, 6)); fmt.Sprint(reply.StopJobs) != "[j]" {
		t.Fatalf("reply %+v, want j stopped", reply)
	}
	// They checkpoint at step 8 and stop; the checkpoint commits, then
	// the attempt ends as planned.
	f.commit("j", 8)
	for r, n := range []string{"n1", "n2"} {
		rr := exited(at(r, 8), "")
		rr.Stopped = 8
		f.report(n, "j", rr)
	}
	ea := only[coord.EndAttempt](t, f.pass())
	if !ea.Planned || ea.Next != coord.JobRecovering || ea.LastStep != 8 ||
		ea.Cause != "checkpointed and stopped after step 8 to run on 3 data-parallel replicas again" {
		t.Fatalf("end %+v", ea)
	}
	sa = only[coord.StartAttempt](t, f.pass())
	if sa.Plan.DP != 3 || sa.FromStep != 8 {
		t.Fatalf("grown start %+v", sa)
	}
}

// TestDrain: a node that reports draining takes no new work, its jobs'
// ranks checkpoint and stop, and the attempt ends as planned — not a
// failure, not counted against --max-restarts; the job resumes elsewhere.
func TestDrain(t *testing.T) {
	f := newFixture(t, 3)
	f.submit("j", spec(t, func(s *jobspec.Spec) { s.MaxRestarts = 0 }))
	f.start("j", plan(2, "n1", "n2"), 0)
	f.s.Report(api.NodeReport{Node: "n2", Draining: true}, f.now)
	f.submit("k", spec(t, func(s *jobspec.Spec) { s.DataParallel, s.GlobalBatch = 4, 4 }))
	acts := f.pass()
	if len(commands(acts)) != 0 || !strings.Contains(f.s.Waiting("k"), "3 are free") {
		t.Fatalf("k placed on a draining node: %#v, waits %q", acts, f.s.Waiting("k"))
	}
	f.commit("j", 20)
	for r, n := range []string{"n1", "n2"} {
		rr := exited(at(r, 20), "")
		rr.Stopped = 20
		f.s.Report(api.NodeReport{Node: n, Draining: n == "n2", Ranks: []api.RankReport{{Job: "j", Attempt: 1, Rank: rr.Rank,
			Progress: rr.Progress, Exited: true, ExitOK: true, Stopped: 20}}}, f.now)
	}
	acts = f.pass()
	ea := only[coord.EndAttempt](t, acts[:1])
	if !ea.Planned || ea.Next != coord.JobRecovering || ea.Cause != "checkpointed and stopped after step 20: n2 restarting" {
		t.Fatalf("end %+v", ea)
	}
	if job := f.st.Jobs["j"]; job.Failures() != 0 {
		t.Errorf("a drain counted as a failure: %+v", job.Attempts)
	}
	// It resumes from step 20 on the nodes that do not drain.
	sa := only[coord.StartAttempt](t, f.pass())
	for _, r := range sa.Plan.Ranks {
		if r.Node == "n2" {
			t.Errorf("placed on the draining node: %+v", sa.Plan)
		}
	}
	if sa.FromStep != 20 {
		t.Errorf("resumed from %d", sa.FromStep)
	}
	// A drain report that is not repeated lapses after DrainTTL.
	f.now = f.now.Add(2 * time.Second)
	f.pass()
	if _, ok := f.s.draining["n2"]; ok {
		t.Error("n2 still draining after DrainTTL without a report")
	}
}

// shard is rank r's shard of step on node, copied to replicas.
func shard(t *testing.T, r int, step int64, replicas ...string) api.Shard {
	m := ckpt.Manifest{Step: int(step), ConsumedSamples: step * 4, Shards: []ckpt.ShardInfo{{File: fmt.Sprintf("s%d", r), Rank: r, SHA256: sha}}}
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return api.Shard{Step: step, Dir: fmt.Sprintf("/ck/r%d/step-%d", r, step), Expect: 2, Native: b, Replicas: replicas,
		Files: []api.ShardFile{{Name: fmt.Sprintf("s%d", r), SHA256: sha, Bytes: 10}}}
}

// TestCheckpointCommit: a step is committed once every shard is in, each
// has a copy on a second node, and every holder wrote the manifest; shards
// that disagree are never committed; the attempt succeeds only once every
// shard it reported is committed.
func TestCheckpointCommit(t *testing.T) {
	f := newFixture(t, 2)
	f.submit("j", spec(t, nil))
	f.start("j", plan(2, "n1", "n2"), 0)
	rank := func(r int, step int64, sh ...api.Shard) api.RankReport {
		rr := at(r, step)
		rr.Shards = sh
		return rr
	}
	// One shard of two: nothing.
	f.report("n1", "j", rank(0, 5, shard(t, 0, 5, "n2")))
	if acts := f.pass(); len(acts) != 0 {
		t.Fatalf("one shard: %#v", acts)
	}
	// Both, but rank 1's has no copy yet: nothing.
	f.report("n2", "j", rank(1, 5, shard(t, 1, 5)))
	if acts := f.pass(); len(acts) != 0 || len(f.s.live["j"].pending) != 0 {
		t.Fatalf("unreplicated: %#v", acts)
	}
	// Both copied: the manifest is ordered from every holder.
	f.report("n2", "j", rank(1, 5, shard(t, 1, 5, "n1")))
	if acts := f.pass(); len(acts) != 0 {
		t.Fatalf("orders: %#v", acts)
	}
	reply := f.report("n1", "j", rank(0, 5, shard(t, 0, 5, "n2")))
	// A checkpoint is named by (job, step): no node's path goes to Raft or
	// to the other nodes, only the step directory's name.
	if len(reply.Manifests) != 1 || reply.Manifests[0].Step != 5 || reply.Manifests[0].Job != "j" || reply.Manifests[0].Dir != "iter_0000005" {
		t.Fatalf("manifest orders %+v", reply.Manifests)
	}
	var m ckpt.Manifest
	if err := json.Unmarshal(reply.Manifests[0].Manifest, &m); err != nil || len(m.Shards) != 2 || m.Format != ckpt.NativeFormat {
		t.Fatalf("merged manifest %+v %v", m, err)
	}
	if p := f.s.Progress(f.st.Jobs["j"]); p == nil || p.Checkpointing != 5 {
		t.Errorf("progress %+v, want checkpointing 5", p)
	}
	ack := api.ManifestAck{Job: "j", Step: 5, SHA256: reply.Manifests[0].SHA256}
	f.s.Report(api.NodeReport{Node: "n1", Written: []api.ManifestAck{ack}}, f.now)
	if acts := f.pass(); len(commands(acts)) != 0 {
		t.Fatalf("committed with one ack of two: %#v", acts)
	}
	// Ranks exit before the last ack: not done while a shard is uncommitted.
	f.report("n1", "j", exited(rank(0, 5, shard(t, 0, 5, "n2")), ""))
	f.report("n2", "j", exited(rank(1, 5, shard(t, 1, 5, "n1")), ""))
	f.s.Report(api.NodeReport{Node: "n2", Written: []api.ManifestAck{ack}}, f.now)
	acts := f.pass()
	cc := only[coord.CommitCheckpoint](t, acts)
	if cc.Checkpoint.Step != 5 || cc.Checkpoint.Manifest != ack.SHA256 || cc.Checkpoint.Dir != "iter_0000005" || len(cc.Checkpoint.Files) != 2 ||
		fmt.Sprint(cc.Checkpoint.Files[1].Nodes) != "[n2 n1]" || msgs(acts) != "checkpoint committed" {
		t.Fatalf("commit %+v; logs %q", cc, msgs(acts))
	}
	if len(f.s.live["j"].pending) != 0 {
		t.Error("pending after the commit applied")
	}
	// Now everything is committed: the job succeeded.
	acts = f.pass()
	if ea := only[coord.EndAttempt](t, acts); ea.Next != coord.JobSucceeded || !acts[0].Always {
		t.Fatalf("end %+v", ea)
	}

	// Shards that disagree on the training state are refused, once.
	f = newFixture(t, 1)
	f.submit("j", spec(t, nil))
	f.start("j", plan(2, "n1", "n1"), 0)
	bad := shard(t, 1, 5)
	bad.Native = []byte(`{"step":5,"consumed_samples":999}`)
	f.report("n1", "j", rank(0, 5, shard(t, 0, 5)), rank(1, 5, bad))
	acts = f.pass()
	if len(commands(acts)) != 0 || msgs(acts) != "checkpoint shards do not agree; not committing" {
		t.Fatalf("disagreeing shards: %#v", acts)
	}
	if acts := f.pass(); len(acts) != 0 {
		t.Fatalf("refused twice: %#v", acts)
	}
}

// TestReset: a scheduler that stops leading forgets what it knew.
func TestReset(t *testing.T) {
	f := newFixture(t, 2)
	f.submit("j", spec(t, nil))
	f.start("j", plan(2, "n1", "n2"), 0)
	f.report("n1", "j", at(0, 3))
	if f.s.Progress(f.st.Jobs["j"]) == nil {
		t.Fatal("no progress")
	}
	f.s.Reset()
	if f.s.Progress(f.st.Jobs["j"]) != nil || !f.s.leaderSince.IsZero() {
		t.Error("Reset kept the leader's memory")
	}
}

// TestProgressAfterLeaderChange: a new leader that never saw a job run
// shows its last step from the job's history in Raft.
func TestProgressAfterLeaderChange(t *testing.T) {
	f := newFixture(t, 2)
	f.submit("j", spec(t, nil))
	j := f.st.Jobs["j"]
	j.State = coord.JobSucceeded
	j.History = []coord.HistoryPoint{{Attempt: 1, Step: 1, Loss: 5}, {Attempt: 1, Step: 2, Loss: 4.5, TokensPerSec: 100, TFLOPs: 0.5}}
	f.s.Reset()
	p := f.s.Progress(j)
	if p == nil || p.Step != 2 || p.Loss != 4.5 || p.TFLOPs != 0.5 || p.Steps == 0 {
		t.Errorf("progress after a leader change: %+v", p)
	}
}
