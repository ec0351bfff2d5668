package daemon

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"bloom/api"
	"bloom/daemon/coord"
	"bloom/daemon/jobspec"
	"bloom/daemon/sched"
)

// jobRoutes registers the job endpoints (api/job.go lists them).
func (d *Daemon) jobRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET "+api.PathJobs, d.leaderView(d.handleJobs))
	mux.HandleFunc("POST "+api.PathJobs, d.leaderOnly(d.handleSubmitJob))
	mux.HandleFunc("GET "+api.PathJobPattern, d.leaderView(d.handleJob))
	mux.HandleFunc("POST "+api.PathJobCancelPattern, d.leaderOnly(d.handleCancel))
	mux.HandleFunc("GET "+api.PathJobCkptsPattern, d.handleCheckpoints)
	mux.HandleFunc("GET "+api.PathJobCkptFilePattern, d.handleCheckpointFile)
	mux.HandleFunc("GET "+api.PathJobHistoryPattern, d.handleHistory)
	mux.HandleFunc("GET "+api.PathJobLogsPattern, d.handleLogs)
	mux.HandleFunc("POST "+api.PathInternalReport, d.nodeOnly(d.leaderOnly(d.handleReport)))
	mux.HandleFunc("GET "+api.PathInternalRendezvous, d.nodeOnly(d.handleRendezvous))
	mux.HandleFunc("POST "+api.PathInternalLogCopy, d.nodeOnly(d.handleLogCopyPush))
	mux.HandleFunc("GET "+api.PathInternalLogCopy, d.nodeOnly(d.handleLogCopyRead))
	mux.HandleFunc(api.PathServePattern, d.handleServe)
}

// leaderView answers on the leader, which knows the running attempts'
// progress; another node forwards there, or answers from its own state
// when there is no leader.
func (d *Daemon) leaderView(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		addr, leader := d.raft.LeaderWithID()
		if d.IsLeader() || addr == "" || r.Header.Get(api.HeaderForwarded) != "" {
			h(w, r)
			return
		}
		d.forward(w, r, string(addr), string(leader))
	}
}

func (d *Daemon) jobInfo(job *coord.Job, members map[string]*coord.Member) api.JobInfo {
	progress, waiting := d.jobs.view(job)
	return apiJob(job, members, progress, waiting, d.paths)
}

func (d *Daemon) handleJobs(w http.ResponseWriter, r *http.Request) {
	st := d.State()
	out := api.JobInfoList{Jobs: []api.JobInfo{}}
	for _, j := range st.Jobs {
		ji := d.jobInfo(j, st.Members)
		ji.Spec = nil // `bloomctl job ID` has it
		out.Jobs = append(out.Jobs, ji)
	}
	sort.Slice(out.Jobs, func(i, j int) bool {
		a, b := out.Jobs[i], out.Jobs[j]
		return a.SubmittedAt < b.SubmittedAt || (a.SubmittedAt == b.SubmittedAt && a.ID < b.ID)
	})
	writeJSON(w, http.StatusOK, out)
}

func (d *Daemon) handleJob(w http.ResponseWriter, r *http.Request) {
	st := d.State()
	job, ok := st.Jobs[r.PathValue("id")]
	if !ok {
		writeError(w, http.StatusNotFound, fmt.Errorf("no job %q (bloomctl jobs lists them)", r.PathValue("id")))
		return
	}
	writeJSON(w, http.StatusOK, d.jobInfo(job, st.Members))
}

// handleHistory answers from this node's copy of the state: the history
// is in Raft, so any node has it.
func (d *Daemon) handleHistory(w http.ResponseWriter, r *http.Request) {
	st := d.State()
	job, ok := st.Jobs[r.PathValue("id")]
	if !ok {
		writeError(w, http.StatusNotFound, fmt.Errorf("no job %q (bloomctl jobs lists them)", r.PathValue("id")))
		return
	}
	out := api.JobHistory{ID: job.ID, Name: job.Name, Points: make([]api.HistoryPoint, 0, len(job.History))}
	for _, p := range job.History {
		out.Points = append(out.Points, api.HistoryPoint{Attempt: p.Attempt, Step: p.Step, At: p.At, Loss: p.Loss, LR: p.LR,
			GradNorm: p.GradNorm, LossScale: p.LossScale, SkippedSteps: p.SkippedSteps, Consumed: p.Consumed, BatchSize: p.Batch, ValLoss: p.ValLoss, ValPPL: p.ValPPL, FinalValLoss: p.FinalValLoss, FinalValPPL: p.FinalValPPL, TokensPerSec: p.TokensPerSec,
			Throughput: api.Throughput{SamplesPerSec: p.SamplesPerSec, SecondsPerStep: p.SecPerStep, TFLOPs: p.TFLOPs, MFU: p.MFU}})
	}
	writeJSON(w, http.StatusOK, out)
}

func (d *Daemon) handleSubmitJob(w http.ResponseWriter, r *http.Request) {
	req, err := api.DecodeSubmitJob(r.Body)
	if err != nil {
		badRequest(w, r, err)
		return
	}
	spec, err := d.admit(req.Spec)
	if err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	d.submitMu.Lock() // the check and the commit together: two submits cannot both take a --save
	defer d.submitMu.Unlock()
	if err := d.saveFree(spec); err != nil {
		writeError(w, http.StatusConflict, err)
		return
	}
	var b [4]byte
	rand.Read(b[:])
	id := "j" + hex.EncodeToString(b[:])
	if err := d.Apply(coord.SubmitJob{ID: id, Name: req.Name, Spec: spec, At: time.Now().UnixMilli()}); err != nil {
		code := http.StatusInternalServerError
		if errors.Is(err, coord.ErrBadCommand) {
			code = http.StatusBadRequest
		}
		writeError(w, code, err)
		return
	}
	d.log.Info("job submitted", "job", id, "name", req.Name)
	d.poke()
	st := d.State()
	writeJSON(w, http.StatusCreated, d.jobInfo(st.Jobs[id], st.Members))
}

// saveFree refuses a job whose --save directory a job that has not ended
// writes to: two jobs in one directory overwrite each other's shards
// while Raft's record of the first points at them.
func (d *Daemon) saveFree(raw []byte) error {
	spec, err := jobspec.Unmarshal(raw)
	if err != nil || spec.Save == "" {
		return err
	}
	dir := filepath.Clean(spec.Save)
	st := d.State()
	for _, j := range st.Jobs {
		if j.State.Terminal() {
			continue
		}
		if other, err := jobspec.Unmarshal(j.Spec); err == nil && other.Save != "" && filepath.Clean(other.Save) == dir {
			return fmt.Errorf("%w: --save %s belongs to job %s (%s, %v): give another directory, or cancel that job first", jobspec.ErrInvalid, spec.Save, j.ID, j.Name, j.State)
		}
	}
	return nil
}

// admit checks a submitted spec against the cluster and returns it with
// the data-parallel size resolved: a job that can never be placed is
// refused now, with what to change.
func (d *Daemon) admit(raw []byte) ([]byte, error) {
	if len(raw) == 0 {
		return nil, fmt.Errorf("%w: the job has no spec (bloomctl submit job.yaml or bloomctl submit pretrain --FLAGS)", jobspec.ErrInvalid)
	}
	spec, err := jobspec.Unmarshal(raw)
	if err != nil {
		return nil, err
	}
	// The cluster as gossip sees it now (the Raft registry may lag a
	// node that just joined), every device counted, busy or not.
	all := coord.NewState()
	for _, m := range d.ml.Members() {
		if live(m) && m.Meta.Devices != "" {
			all.Members[m.Name] = &coord.Member{Name: m.Name, Devices: m.Meta.Devices}
		}
	}
	isAlive := func(string) bool { return true }
	// The devices first: a layout that does not fit says so even when the
	// batch does not divide by it either.
	if err := spec.ResolveLayout(sched.TotalDevices(all, isAlive)); err != nil {
		return nil, errors.Join(err, spec.Validate())
	}
	if err := spec.Validate(); err != nil {
		return nil, err
	}
	if err := spec.CheckRoots(d.cfg.Jobs.Roots); err != nil {
		return nil, err
	}
	if _, err := sched.Place(sched.FreeDevices(all, isAlive), spec.TensorParallel, spec.PipelineParallel, spec.DataParallel); err != nil {
		return nil, err
	}
	if err := d.fits(&spec); err != nil {
		return nil, err
	}
	return spec.Marshal()
}

// fits refuses a job whose ranks need more memory than the live nodes'
// devices have (jobspec.Spec.Fits, on what each node reports in gossip).
func (d *Daemon) fits(spec *jobspec.Spec) error {
	var offers []jobspec.Offer
	for _, m := range d.ml.Members() {
		if !live(m) || m.Meta.Devices == "" {
			continue
		}
		groups, err := sched.ParseDevices(m.Meta.Devices)
		if err != nil {
			continue
		}
		o := jobspec.Offer{Devices: map[string]int{}, MemMiB: m.Meta.MemPerDevice}
		for _, g := range groups {
			o.Devices[g.Kind] += len(g.Indices)
		}
		offers = append(offers, o)
	}
	return spec.Fits(offers)
}

func (d *Daemon) handleCancel(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	job, ok := d.State().Jobs[id]
	if !ok {
		writeError(w, http.StatusNotFound, fmt.Errorf("no job %q", id))
		return
	}
	const why = "cancelled by the user"
	var err error
	switch {
	case job.State.Terminal():
		writeError(w, http.StatusConflict, fmt.Errorf("job %s is already %v", id, job.State))
		return
	case job.State == coord.JobRunning:
		err = d.Apply(coord.EndAttempt{ID: id, Cause: why, Next: coord.JobCancelled, At: time.Now().UnixMilli()})
	default:
		err = d.Apply(coord.SetJobState{ID: id, State: coord.JobCancelled, Reason: why})
	}
	if err != nil {
		code := http.StatusInternalServerError
		if errors.Is(err, coord.ErrBadTransition) {
			code = http.StatusConflict // it moved meanwhile: the user can look again
		}
		writeError(w, code, err)
		return
	}
	d.log.Info("job cancelled", "job", id)
	d.poke()
	st := d.State()
	writeJSON(w, http.StatusOK, d.jobInfo(st.Jobs[id], st.Members))
}

func (d *Daemon) handleCheckpoints(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	job, ok := d.State().Jobs[id]
	if !ok {
		writeError(w, http.StatusNotFound, fmt.Errorf("no job %q", id))
		return
	}
	writeJSON(w, http.StatusOK, api.CheckpointList{Job: id, Checkpoints: apiCheckpoints(job, d.jobRoot(job))})
}

func (d *Daemon) handleReport(w http.ResponseWriter, r *http.Request) {
	var rep api.NodeReport
	if err := decodeBody(r, &rep); err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	// A node reports for itself; one forwarded by another node was
	// checked there (nodeOnly on every hop).
	if from := certNode(r); from != rep.Node && r.Header.Get(api.HeaderForwarded) == "" {
		writeError(w, http.StatusForbidden, fmt.Errorf("node %s may not report for node %s", from, rep.Node))
		return
	}
	rep.Ranks = d.ownRanks(rep.Node, rep.Ranks)
	writeJSON(w, http.StatusOK, d.jobs.receive(rep))
}

// ownRanks keeps the rank reports that node may make: ranks of a job's
// current attempt that its plan puts on node. Anything else (an invented
// job, an attempt that is not the current one, another node's rank) is
// dropped, and leaves no state behind.
func (d *Daemon) ownRanks(node string, ranks []api.RankReport) []api.RankReport {
	st := d.State()
	out := ranks[:0]
	for _, rr := range ranks {
		j := st.Jobs[rr.Job]
		if j == nil || j.Plan == nil || rr.Attempt != len(j.Attempts) || rr.Rank < 0 || rr.Rank >= len(j.Plan.Ranks) ||
			j.Plan.Ranks[rr.Rank].Node != node {
			continue
		}
		out = append(out, rr)
	}
	return out
}

func (d *Daemon) handleRendezvous(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	var attempt int
	fmt.Sscan(q.Get("attempt"), &attempt)
	v, ok := d.sup.Rendezvous(q.Get("job"), attempt, q.Get("key"))
	if !ok {
		writeError(w, http.StatusNotFound, errors.New("not published (yet)"))
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Write(v)
}

// badRequest answers a body that could not be decoded: 413 for one over
// the bound, whose rest is read and dropped first (up to 64 MiB) so the
// client gets the answer, not a reset connection; else 400.
func badRequest(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, api.ErrTooLarge) {
		io.Copy(io.Discard, io.LimitReader(r.Body, 64<<20))
		writeError(w, http.StatusRequestEntityTooLarge, err)
		return
	}
	writeError(w, http.StatusBadRequest, err)
}

// decodeBody reads a JSON request body of bounded size.
func decodeBody(r *http.Request, v any) error {
	dec := json.NewDecoder(http.MaxBytesReader(nil, r.Body, api.MaxRequestBody))
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("bad request body: %v", strings.TrimPrefix(err.Error(), "json: "))
	}
	return nil
}
