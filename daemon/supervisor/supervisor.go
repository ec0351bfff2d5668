package supervisor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"time"

	"bloom/api"
	"bloom/ckpt"
	"bloom/daemon/coord"
	"bloom/daemon/jobspec"
	"bloom/daemon/worker"
)

// Supervisor runs this node's workers: one `bloomd worker` process per
// rank the committed plan puts here. It starts them when an attempt
// starts, stops them when it ends, and tells the coordinator what they
// report. A worker that exits is never restarted by the supervisor: the
// coordinator decides (a new attempt). Everything it starts belongs to wg.
type Supervisor struct {
	env   Env
	wg    sync.WaitGroup
	stopC chan struct{}

	mu       sync.Mutex
	closed   bool
	draining bool // every worker, and any started later, is asked to checkpoint and stop
	procs    map[Key]*Worker
	rdv      map[rdvKey][]byte
	// leaderView: the leader's records of jobs this node's Raft state
	// lags on (from its last report reply).
	leaderView map[string]*coord.Job
	written    map[ckptKey]api.ManifestAck // manifests made durable here
	clients    map[string]*api.Client      // other nodes' APIs, by address
}

// Env is what a Supervisor is given by the daemon that makes it: plain
// values, and function values for the few things it asks of the rest of
// the node. It holds no pointer to the daemon.
type Env struct {
	Node     string // this node's name
	BindHost string // the host workers listen on
	Secret   string // the cluster secret, for workers that talk to peers
	Instance string // this bloomd's process nonce
	Log      *slog.Logger

	// WorkerCommand is the argv that starts one worker; empty: this
	// executable with the argument "worker" (`bloomd worker`).
	WorkerCommand []string
	WorkerEnv     []string      // added to each worker's environment
	WorkerThreads int           // each worker's CPU threads; 0 shares the node's CPUs among its workers
	Roots         []string      // the directories job paths must lie under here (none: any)
	StopGrace     time.Duration // between SIGTERM and SIGKILL

	// Device names this node's pos-th device of --devices: "kind:index".
	Device func(pos int) (string, error)
	// DeviceOf resolves any node's --devices and a plan position to a
	// device kind and index (for the HCCL rank table of NPU jobs).
	DeviceOf func(devices string, pos int) (kind string, index int, err error)
	// LogPath is a worker's log file.
	LogPath func(job string, attempt, rank int) string
	// SaveDir is a job's checkpoint root here, as its workers are told.
	SaveDir func(job string, spec *jobspec.Spec) string
	// State returns a copy of this node's applied Raft state.
	State func() *coord.State
	// Alive is gossip's view: who is alive or suspect.
	Alive func() map[string]bool
	// Poke wakes the jobs goroutine.
	Poke func()
	// Local hands a report to the coordinator in process, when this
	// node leads (false otherwise).
	Local func(api.NodeReport) (api.ReportReply, bool)
	// Leader is the leader's API address, "" if unknown.
	Leader func() string
	// Client makes an API client to another node (the supervisor keeps
	// one per address and closes them in StopAll).
	Client func(addr string) (*api.Client, error)
	// Push sends one checkpoint file to another node's transfer address
	// and returns the bytes that went over the wire.
	Push func(ctx context.Context, addr, job, rel, path, sha string, size int64) (wire int64, err error)
}

// Key names one worker: a rank of an attempt of a job.
type Key struct {
	Job     string
	Attempt int
	Rank    int
}

// Running reports whether k's attempt is the running attempt in st.
func (k Key) Running(st *coord.State) bool {
	_, ok := current(st, k.Job, k.Attempt)
	return ok
}

// rdvKey names a value published by a worker of an attempt.
type rdvKey struct {
	job     string
	attempt int
	key     string
}

// ckptKey names a checkpoint of an attempt.
type ckptKey struct {
	job     string
	attempt int
	step    int64
}

// New returns the supervisor of a node; it starts nothing until the first
// Reconcile. StopAll ends what it started.
func New(env Env) *Supervisor {
	return &Supervisor{env: env, stopC: make(chan struct{}), procs: map[Key]*Worker{},
		rdv: map[rdvKey][]byte{}, written: map[ckptKey]api.ManifestAck{}, clients: map[string]*api.Client{}}
}

// current reports whether key's attempt is the running attempt in st.
func current(st *coord.State, job string, attempt int) (*coord.Job, bool) {
	j := st.Jobs[job]
	return j, j != nil && j.State == coord.JobRunning && len(j.Attempts) == attempt && j.Plan != nil
}

// Reconcile starts the workers the plan wants here and stops the others.
func (s *Supervisor) Reconcile(st *coord.State) {
	me := s.env.Node
	desired := map[Key]coord.Rank{}
	for id, job := range st.Jobs {
		if _, ok := current(st, id, len(job.Attempts)); !ok {
			continue
		}
		for _, r := range job.Plan.Ranks {
			if r.Node == me {
				desired[Key{id, len(job.Attempts), r.Rank}] = r
			}
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	for key, p := range s.procs {
		if _, ok := desired[key]; ok {
			continue
		}
		p.stop(s.env.StopGrace, &s.wg)
		select {
		case <-p.exited:
			delete(s.procs, key)
		default:
		}
	}
	for key, r := range desired {
		if s.procs[key] == nil && !s.olderRunning(key) {
			s.procs[key] = s.launch(st, key, r, len(desired))
			if s.draining {
				s.procs[key].requestStop()
			}
		}
	}
	for k := range s.rdv {
		if _, ok := current(st, k.job, k.attempt); !ok {
			delete(s.rdv, k)
		}
	}
}

// olderRunning reports whether a worker of an earlier attempt of key's job
// still runs here: the new attempt's waits for it (at most StopGrace), so
// two attempts never write the same checkpoint. Call with s.mu held.
func (s *Supervisor) olderRunning(key Key) bool {
	for k, p := range s.procs {
		if k.Job == key.Job && k.Attempt < key.Attempt {
			select {
			case <-p.exited:
			default:
				return true
			}
		}
	}
	return false
}

// launch starts the worker of key. Call with s.mu held.
func (s *Supervisor) launch(st *coord.State, key Key, r coord.Rank, local int) *Worker {
	a, err := s.assignment(st, key, r, local)
	argv, errCmd := s.argv()
	if err = errors.Join(err, errCmd); err != nil {
		p := &Worker{key: key, exited: make(chan struct{}),
			rep: api.RankReport{Job: key.Job, Attempt: key.Attempt, Rank: key.Rank, Exited: true, Exit: "did not start", Error: err.Error(),
				Fatal: errors.Is(err, jobspec.ErrInvalid), FailedAt: time.Now().UnixMilli()}}
		close(p.exited)
		return p
	}
	s.env.Log.Info("starting worker", "job", key.Job, "attempt", key.Attempt, "rank", key.Rank, "device", a.Device)
	env := append(append([]string(nil), s.env.WorkerEnv...), s.writeRankTable(st, key)...)
	return s.startWorker(key, a, argv, env)
}

// argv is the argv of a worker.
func (s *Supervisor) argv() ([]string, error) {
	if len(s.env.WorkerCommand) > 0 {
		return s.env.WorkerCommand, nil
	}
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	return []string{exe, "worker"}, nil
}

// assignment is what the worker of key is told.
func (s *Supervisor) assignment(st *coord.State, key Key, r coord.Rank, local int) (worker.Assignment, error) {
	job := st.Jobs[key.Job]
	spec, err := jobspec.Decode(job.Spec)
	if err != nil {
		return worker.Assignment{}, err
	}
	if err := spec.CheckRoots(s.env.Roots); err != nil {
		return worker.Assignment{}, fmt.Errorf("node %s: %w", s.env.Node, err)
	}
	device, err := s.env.Device(r.Device)
	if err != nil {
		return worker.Assignment{}, err
	}
	threads := s.env.WorkerThreads
	if threads == 0 {
		threads = max(1, runtime.NumCPU()/max(local, 1))
	}
	a := worker.Assignment{Job: key.Job, Attempt: key.Attempt, Rank: key.Rank, Plan: *job.Plan, Node: s.env.Node,
		Device: device, Threads: threads, Spec: spec, SaveDir: s.env.SaveDir(key.Job, &spec), BindHost: s.env.BindHost}
	if from := job.Attempts[len(job.Attempts)-1].FromStep; from > 0 {
		a.FromStep, a.LoadDir = from, filepath.Join(a.SaveDir, ckpt.StepDirName(int(from)))
		for _, k := range job.Checkpoints {
			if k.Step == from {
				a.Fetch = newFetch(st, k, s.env.Node, s.env.Alive())
			}
		}
	}
	if len(job.Plan.Ranks) > 1 || a.Fetch != nil {
		a.Secret = s.env.Secret
	}
	return a, nil
}

// Report sends the coordinator a snapshot of this node's live workers and
// writes the manifests it asks for.
func (s *Supervisor) Report(st *coord.State) {
	rep := api.NodeReport{Node: s.env.Node, Applied: max(st.Index, 1), Instance: s.env.Instance}
	s.mu.Lock()
	rep.Draining = s.draining
	for key, p := range s.procs {
		job, ok := current(st, key.Job, key.Attempt)
		if !ok {
			continue
		}
		rep.Ranks = append(rep.Ranks, p.snapshot(job.LastStep()))
	}
	for k, ack := range s.written {
		if job, ok := current(st, k.job, k.attempt); ok && ack.Step > job.LastStep() {
			rep.Written = append(rep.Written, ack)
		} else {
			delete(s.written, k)
		}
	}
	s.mu.Unlock()
	// A node with nothing to say still reports while a job runs: it may
	// hold copies of shards, and the manifest orders come in the reply.
	if len(rep.Ranks) == 0 && len(rep.Written) == 0 && !rep.Draining && !anyActive(st) {
		return
	}
	reply, err := s.send(rep)
	if err != nil {
		s.env.Log.Debug("report to the coordinator", "err", err)
		return
	}
	s.setLeaderView(reply.Jobs)
	s.stopJobs(reply.StopJobs)
	for _, o := range reply.Manifests {
		// The step directory on this node, named by (job, step): the
		// writer's own, or where a copy of the shards was pushed here.
		job := st.Jobs[o.Job]
		if job == nil {
			continue // not in this node's view yet: the order comes again
		}
		spec, err := jobspec.Decode(job.Spec)
		if err != nil {
			s.env.Log.Warn("write checkpoint manifest", "job", o.Job, "step", o.Step, "err", err)
			continue
		}
		o.Dir = filepath.Join(s.env.SaveDir(o.Job, &spec), ckpt.StepDirName(int(o.Step)))
		if err := writeManifest(o); err != nil {
			s.env.Log.Warn("write checkpoint manifest", "job", o.Job, "step", o.Step, "err", err)
			continue
		}
		s.mu.Lock()
		s.written[ckptKey{o.Job, len(job.Attempts), o.Step}] = api.ManifestAck{Job: o.Job, Step: o.Step, SHA256: o.SHA256}
		s.mu.Unlock()
		s.env.Poke()
	}
}

// anyActive reports whether a job is not over yet.
func anyActive(st *coord.State) bool {
	for _, j := range st.Jobs {
		if !j.State.Terminal() {
			return true
		}
	}
	return false
}

// setLeaderView keeps the leader's records of the running jobs with ranks
// here, from its last reply (none when this node's state had caught up).
func (s *Supervisor) setLeaderView(jobs []json.RawMessage) {
	view := map[string]*coord.Job{}
	for _, b := range jobs {
		var job coord.Job
		if json.Unmarshal(b, &job) == nil && job.Plan != nil && job.Plan.Validate() == nil {
			view[job.ID] = &job
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(view) > 0 && len(s.leaderView) == 0 {
		s.env.Log.Info("this node's Raft state lags the leader's: running the leader's view of its jobs", "jobs", len(view))
	}
	s.leaderView = view
}

// View is st with the leader's record of each job whose attempt st has not
// reached yet: a node that just restarted starts its workers of the new
// attempt at once instead of after Raft's replication backoff. st is
// changed in place (it is the caller's copy).
func (s *Supervisor) View(st *coord.State) *coord.State {
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, job := range s.leaderView {
		if mine := st.Jobs[id]; mine == nil || len(mine.Attempts) < len(job.Attempts) {
			st.Jobs[id] = job
		}
	}
	return st
}

// send delivers a report to the leader: in process when this node leads.
func (s *Supervisor) send(rep api.NodeReport) (*api.ReportReply, error) {
	if r, ok := s.env.Local(rep); ok {
		return &r, nil
	}
	addr := s.env.Leader()
	if addr == "" {
		// A node that just restarted learns the leader from its
		// heartbeats, which Raft may be backing off: any live member
		// forwards the report to the leader.
		if addr = s.anyPeerAPI(); addr == "" {
			return nil, errors.New("no leader")
		}
	}
	c, err := s.client(addr)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	return c.Report(ctx, rep)
}

// anyPeerAPI is the API address of a live member other than this node.
func (s *Supervisor) anyPeerAPI() string {
	st := s.env.State()
	for name, ok := range s.env.Alive() {
		if m := st.Members[name]; ok && name != s.env.Node && m != nil && m.APIAddr != "" {
			return m.APIAddr
		}
	}
	return ""
}

// client is an API client to another node, with this node's certificate.
func (s *Supervisor) client(addr string) (*api.Client, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c := s.clients[addr]; c != nil {
		return c, nil
	}
	c, err := s.env.Client(addr)
	if err != nil {
		return nil, err
	}
	s.clients[addr] = c
	return c, nil
}

// StopAll stops every worker (SIGKILL at once when kill) and waits for
// them and for every goroutine the supervisor started.
func (s *Supervisor) StopAll(kill bool) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	close(s.stopC)
	for _, p := range s.procs {
		if kill {
			p.kill()
		} else {
			p.stop(s.env.StopGrace, &s.wg)
		}
	}
	s.mu.Unlock()
	s.wg.Wait()
	s.mu.Lock()
	for _, c := range s.clients {
		c.Close()
	}
	s.mu.Unlock()
}

// Drain asks every worker, now and later, to checkpoint and stop, and
// returns the workers that were running.
func (s *Supervisor) Drain() []Key {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.draining = true
	var keys []Key
	for key, p := range s.procs {
		select {
		case <-p.exited:
		default:
			p.requestStop()
			keys = append(keys, key)
		}
	}
	return keys
}

// stopJobs asks this node's workers of the given jobs to checkpoint and
// stop (asking twice is harmless).
func (s *Supervisor) stopJobs(ids []string) {
	if len(ids) == 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for key, p := range s.procs {
		if slices.Contains(ids, key.Job) {
			p.requestStop()
		}
	}
}

// Draining reports whether Drain was called.
func (s *Supervisor) Draining() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.draining
}

// Worker returns the worker of key on this node, if any (tests signal it).
func (s *Supervisor) Worker(key Key) *Worker {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.procs[key]
}

// Done reports whether the worker of key is over: it exited, or its
// attempt is no longer running and nothing of it runs here. The API's log
// follower stops there.
func (s *Supervisor) Done(key Key) bool {
	if p := s.Worker(key); p != nil {
		select {
		case <-p.exited:
			return true
		default:
			return false
		}
	}
	return !key.Running(s.env.State())
}
