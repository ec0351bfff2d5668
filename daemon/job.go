package daemon

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"bloom/api"
	"bloom/daemon/coord"
	"bloom/daemon/jobspec"
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
}

// DefaultJobsConfig returns the production defaults.
func DefaultJobsConfig() JobsConfig {
	return JobsConfig{StopGrace: 10 * time.Second, ReportInterval: 250 * time.Millisecond}
}

func (c *JobsConfig) validate() error {
	if c.StopGrace <= 0 || c.ReportInterval <= 0 || c.WorkerThreads < 0 {
		return errors.New("daemon: Jobs.StopGrace and Jobs.ReportInterval must be > 0, Jobs.WorkerThreads ≥ 0")
	}
	return nil
}

// jobs is a daemon's part in running jobs: the supervisor of this node's
// workers (every node) and the coordinator's bookkeeping (the leader).
// Its goroutine is started by Start and stopped by shutdown.
type jobs struct {
	d   *Daemon
	cfg JobsConfig
	sup *supervisor

	mu          sync.Mutex
	live        map[string]*liveJob         // leader: what the ranks of running attempts report
	waiting     map[string]string           // leader: why a pending job is not placed yet
	final       map[string]*api.JobProgress // leader: the last progress of attempts that ended
	draining    map[string]time.Time        // leader: nodes going down for a restart → their last report saying so
	leaderSince time.Time                   // zero when not the leader
	wake        chan struct{}
}

func newJobs(d *Daemon) *jobs {
	j := &jobs{d: d, cfg: d.cfg.Jobs, live: map[string]*liveJob{}, waiting: map[string]string{},
		final: map[string]*api.JobProgress{}, draining: map[string]time.Time{}, wake: make(chan struct{}, 1)}
	j.sup = newSupervisor(j)
	return j
}

// run is the jobs goroutine: every tick it supervises this node's workers
// and sends their report; on the leader it also places and watches jobs.
func (j *jobs) run(stop <-chan struct{}) {
	t := time.NewTicker(j.cfg.ReportInterval)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		case <-j.wake:
		}
		st := j.sup.view(j.d.State())
		j.sup.reconcile(st)
		j.sup.report(st)
		j.coordinate()
	}
}

// poke makes the jobs goroutine look now.
func (j *jobs) poke() {
	select {
	case j.wake <- struct{}{}:
	default:
	}
}

// stop ends every worker of this node (SIGTERM, then SIGKILL after the
// grace; at once when kill) and waits for them.
func (j *jobs) stop(kill bool) { j.sup.stopAll(kill) }

// jobDir is where a job's logs (and, by default, its checkpoints) live on
// this node.
func (j *jobs) jobDir(id string) string { return filepath.Join(j.d.cfg.DataDir, "jobs", id) }

func (j *jobs) logPath(id string, attempt, rank int) string {
	return filepath.Join(j.jobDir(id), "attempt-"+strconv.Itoa(attempt), "rank-"+strconv.Itoa(rank)+".log")
}

// saveDir is the root of a job's checkpoints on this node.
func (j *jobs) saveDir(id string, spec *jobspec.Spec) string {
	if spec.Save != "" {
		return spec.Save
	}
	return filepath.Join(j.jobDir(id), "checkpoints")
}

// apiJob is a job as the API shows it; live adds the leader's view of a
// running attempt.
func apiJob(job *coord.Job, members map[string]*coord.Member, lv *api.JobProgress, reason string) api.JobInfo {
	out := api.JobInfo{ID: job.ID, Name: job.Name, State: job.State.String(), SubmittedAt: job.SubmittedAt,
		Reason: job.Reason, Spec: job.Spec, Progress: lv}
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
				if k, i, err := deviceAt(m.Devices, r.Device); err == nil {
					dev = k + ":" + strconv.Itoa(i)
				}
			}
			ap.Ranks = append(ap.Ranks, api.PlanRank{Rank: r.Rank, Node: r.Node, Device: dev})
		}
		out.Plan = ap
	}
	for _, a := range job.Attempts {
		out.Attempts = append(out.Attempts, apiAttempt(job, a))
	}
	out.Checkpoints = apiCheckpoints(job.Checkpoints)
	return out
}

func apiCheckpoints(cs []coord.Checkpoint) []api.Checkpoint {
	out := []api.Checkpoint{}
	for _, c := range cs {
		k := api.Checkpoint{Step: c.Step, Dir: c.Dir, Manifest: c.Manifest, CommittedAt: c.CommittedAt}
		for _, f := range c.Files {
			k.Files = append(k.Files, api.CheckpointFile{Name: f.Name, SHA256: f.SHA256, Bytes: f.Bytes, Nodes: f.Nodes})
		}
		out = append(out, k)
	}
	return out
}

// workerCommand is the argv of a worker.
func (j *jobs) workerCommand() ([]string, error) {
	if len(j.cfg.WorkerCommand) > 0 {
		return j.cfg.WorkerCommand, nil
	}
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	return []string{exe, "worker"}, nil
}
