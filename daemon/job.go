package daemon

import (
	"context"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"strconv"
	"time"

	"bloom/api"
	"bloom/ckpt"
	"bloom/daemon/coord"
	"bloom/daemon/identity"
	"bloom/daemon/jobspec"
	"bloom/daemon/sched"
	"bloom/daemon/supervisor"
)

// JobsConfig configures how a daemon runs jobs: its workers and its
// reports to the coordinator.
type JobsConfig struct {
	// WorkerCommand is the argv that starts one worker; the daemon adds
	// nothing to it. Empty: this executable with the argument "worker"
	// (`bloomd worker`).
	WorkerCommand []string
	// WorkerEnv is added to each worker's environment.
	WorkerEnv []string
	// WorkerThreads is each worker's CPU thread count; 0 shares the
	// node's CPUs among the workers it runs.
	WorkerThreads int
	// StopGrace is how long a worker has between SIGTERM and SIGKILL.
	StopGrace time.Duration
	// ReportInterval is how often a node tells the coordinator about its
	// workers (and how often the coordinator looks at its jobs).
	ReportInterval time.Duration
	// DeviceProbeInterval is how often the devices no worker holds are
	// probed (devices.go); 0: every 5 minutes.
	DeviceProbeInterval time.Duration
	// LogCopyInterval is how often this node copies the new bytes of its
	// ranks' logs to another node (logship.go); a worker's exit is copied
	// within one interval too.
	LogCopyInterval time.Duration
	// LogCopyBytes bounds a copy: the last LogCopyBytes of each log are
	// copied (a copy grows to a quarter more before its start is cut).
	LogCopyBytes int64
	// Roots confine the paths a job names (jobspec.Spec.Paths) on this
	// node: absolute directories; none lets a job use any path the
	// bloomd's user may. Submit checks them on the node that takes the
	// job, and every node again before it starts a worker.
	Roots []string
}

// DefaultJobsConfig returns the production defaults.
func DefaultJobsConfig() JobsConfig {
	return JobsConfig{StopGrace: 10 * time.Second, ReportInterval: 250 * time.Millisecond,
		LogCopyInterval: 2 * time.Second, LogCopyBytes: 16 << 20}
}

func (c *JobsConfig) validate() error {
	if c.StopGrace <= 0 || c.ReportInterval <= 0 || c.WorkerThreads < 0 {
		return errors.New("daemon: Jobs.StopGrace and Jobs.ReportInterval must be > 0, Jobs.WorkerThreads ≥ 0")
	}
	if c.LogCopyInterval <= 0 || c.LogCopyBytes <= 0 {
		return errors.New("daemon: Jobs.LogCopyInterval and Jobs.LogCopyBytes must be > 0")
	}
	for _, r := range c.Roots {
		if !filepath.IsAbs(r) {
			return fmt.Errorf("daemon: --job-roots %q: give absolute directories", r)
		}
	}
	return nil
}

// jobPaths is where jobs live in a node's data dir.
type jobPaths struct{ dataDir string }

// jobDir is where a job's logs (and, by default, its checkpoints) live on
// this node.
func (p jobPaths) jobDir(id string) string { return filepath.Join(p.dataDir, "jobs", id) }

func (p jobPaths) logPath(id string, attempt, rank int) string {
	return filepath.Join(p.jobDir(id), "attempt-"+strconv.Itoa(attempt), "rank-"+strconv.Itoa(rank)+".log")
}

// saveDir is the root of a job's checkpoints on this node.
func (p jobPaths) saveDir(id string, spec *jobspec.Spec) string {
	if spec.Save != "" {
		return spec.Save
	}
	return filepath.Join(p.jobDir(id), "checkpoints")
}

// ckptRoot is the root of job id's checkpoints on this node, from its spec
// (false when the spec does not decode).
func (p jobPaths) ckptRoot(id string, spec []byte) (string, bool) {
	sp, err := jobspec.Decode(spec)
	if err != nil {
		return "", false
	}
	return p.saveDir(id, &sp), true
}

// stepIn is where step lives under the checkpoint root: a checkpoint is
// named by (job, step), and every node resolves its own root ("" when the
// root is unknown).
func stepIn(root string, step int64) string {
	if root == "" {
		return ""
	}
	return filepath.Join(root, ckpt.StepDirName(int(step)))
}

// startJobs makes the supervisor and the coordinator, each with what it
// needs of the node and nothing more.
func (d *Daemon) startJobs() {
	d.jobs = newJobs(d.log, schedConfig(&d.cfg), d.IsLeader, d.fsm.read, d.Apply, d.gossipView, d.poke)
	host, _, _ := net.SplitHostPort(d.apiAddr)
	d.sup = supervisor.New(supervisor.Env{
		Node: d.cfg.Name, BindHost: host, Secret: d.cfg.Secret.String(), Instance: d.nonce, Log: d.log,
		WorkerCommand: d.cfg.Jobs.WorkerCommand, WorkerEnv: d.cfg.Jobs.WorkerEnv,
		WorkerThreads: d.cfg.Jobs.WorkerThreads, StopGrace: d.cfg.Jobs.StopGrace, Roots: d.cfg.Jobs.Roots,
		Device: func(pos int) (string, error) {
			kind, idx, err := sched.DeviceAt(d.cfg.Devices, pos)
			return fmt.Sprintf("%s:%d", kind, idx), err
		},
		DeviceOf: sched.DeviceAt,
		LogPath:  d.paths.logPath, SaveDir: d.paths.saveDir,
		State: d.State, Alive: d.aliveNodes, Poke: d.poke, Local: d.receiveLocal, Leader: d.leaderAddr,
		Client: func(addr string) (*api.Client, error) {
			return api.NewClient(addr, d.id.ClientTLS(identity.ALPNHTTP), "")
		},
		Push: func(ctx context.Context, addr, job, rel, path, sha string, size int64) (int64, error) {
			st, err := d.xfer.Push(ctx, addr, job, rel, path, sha, size)
			return st.Wire, err
		},
	})
}

// receiveLocal hands a report of this node's to the coordinator in
// process when this node leads.
func (d *Daemon) receiveLocal(rep api.NodeReport) (api.ReportReply, bool) {
	if !d.IsLeader() {
		return api.ReportReply{}, false
	}
	return d.jobs.receive(rep), true
}

// leaderAddr is the leader's API (and Raft) address, "" when unknown.
func (d *Daemon) leaderAddr() string {
	addr, _ := d.raft.LeaderWithID()
	return string(addr)
}

// gossipView is one snapshot of gossip's view, as the scheduler reads it.
func (d *Daemon) gossipView() sched.Gossip {
	g := sched.Gossip{Self: d.cfg.Name, SelfDraining: d.ml.Meta().Draining}
	for _, m := range d.ml.Members() {
		g.Members = append(g.Members, sched.Member{Name: m.Name, State: string(m.State),
			Draining: m.Meta.Draining, Instance: m.Meta.Nonce})
	}
	return g
}

// aliveNodes is gossip's view: who is alive or suspect (not dead, not
// left); this node is alive.
func (d *Daemon) aliveNodes() map[string]bool { return d.gossipView().Alive() }

// runJobs is the jobs goroutine: every tick (or poke) the supervisor
// starts and stops this node's workers and sends their report, and on the
// leader the coordinator places and watches jobs.
func (d *Daemon) runJobs() {
	t := time.NewTicker(d.cfg.Jobs.ReportInterval)
	defer t.Stop()
	for {
		select {
		case <-d.stop:
			return
		case <-t.C:
		case <-d.wake:
		}
		st := d.sup.View(d.State())
		d.sup.Reconcile(st)
		d.sup.Report(st)
		d.jobs.coordinate()
	}
}

// poke makes the jobs goroutine look now.
func (d *Daemon) poke() {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// apiJob is a job as the API shows it; live adds the leader's view of a
// running attempt.
func apiJob(job *coord.Job, members map[string]*coord.Member, lv *api.JobProgress, reason string, paths jobPaths) api.JobInfo {
	root, _ := paths.ckptRoot(job.ID, job.Spec) // decoded once for every checkpoint and attempt
	out := api.JobInfo{ID: job.ID, Name: job.Name, State: job.State.String(), SubmittedAt: job.SubmittedAt,
		Reason: job.Reason, Spec: job.Spec, Progress: lv, Result: job.Result}
	switch {
	case reason == "":
	case job.State == coord.JobPending:
		out.Reason = reason
	case job.State == coord.JobRecovering:
		out.Reason = job.Reason + " — now " + reason
	}
	if lv != nil && lv.Checkpointing > 0 && job.State == coord.JobRunning {
		out.State = api.JobCheckpointing
	}
	if p := job.Plan; p != nil {
		ap := &api.Plan{TP: p.TP, PP: p.PP, DP: p.DP}
		for _, r := range p.Ranks {
			dev := strconv.Itoa(r.Device)
			if m := members[r.Node]; m != nil {
				if k, i, err := sched.DeviceAt(m.Devices, r.Device); err == nil {
					dev = k + ":" + strconv.Itoa(i)
				}
			}
			ap.Ranks = append(ap.Ranks, api.PlanRank{Rank: r.Rank, Node: r.Node, Device: dev})
		}
		out.Plan = ap
	}
	for _, a := range job.Attempts {
		out.Attempts = append(out.Attempts, apiAttempt(a, root))
	}
	out.Checkpoints = apiCheckpoints(job, root)
	return out
}

// apiCheckpoints are job's committed checkpoints, each in its directory
// under root, the job's checkpoint root on this node.
func apiCheckpoints(job *coord.Job, root string) []api.Checkpoint {
	out := []api.Checkpoint{}
	for _, c := range job.Checkpoints {
		k := api.Checkpoint{Step: c.Step, Dir: stepIn(root, c.Step), Manifest: c.Manifest, CommittedAt: c.CommittedAt}
		for _, f := range c.Files {
			k.Files = append(k.Files, api.CheckpointFile{Name: f.Name, SHA256: f.SHA256, Bytes: f.Bytes, Nodes: f.Nodes})
		}
		out = append(out, k)
	}
	return out
}

// apiAttempt is what `bloomctl job` shows of an attempt: when it ran, why
// it ended, the checkpoint it resumed from and the steps it lost.
func apiAttempt(a coord.Attempt, root string) api.Attempt {
	out := api.Attempt{N: a.N, StartedAt: a.StartedAt, EndedAt: a.EndedAt, FromStep: a.FromStep,
		Cause: a.Cause, StepsLost: a.StepsLost, LastStep: a.LastStep, Planned: a.Planned}
	if a.FromStep > 0 { // an attempt resumes only from a committed checkpoint
		out.FromDir = stepIn(root, a.FromStep)
	}
	return out
}
