package daemon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"time"

	"bloom/api"
	"bloom/daemon/coord"
	"bloom/daemon/supervisor"
)

// maxLogChunk bounds one answer of the logs endpoint.
const maxLogChunk = 1 << 20

// followWait is how long a follow request waits for new bytes.
const followWait = 2 * time.Second

// handleLogs serves a rank's log: from this node's data dir when the rank
// ran here, else through the node that ran it; when that node is gone,
// cannot be reached or lost the log with its disk, from the copy another
// node kept (logcopy.go), saying so in the answer's headers.
func (d *Daemon) handleLogs(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	q := r.URL.Query()
	rank, err1 := strconv.Atoi(q.Get("rank"))
	offset, err2 := strconv.ParseInt(q.Get("offset"), 10, 64)
	if q.Get("rank") == "" {
		rank, err1 = 0, nil
	}
	if q.Get("offset") == "" {
		offset, err2 = 0, nil
	}
	if err := errors.Join(err1, err2); err != nil || offset < 0 {
		writeError(w, http.StatusBadRequest, errors.New("rank and offset must be non-negative integers"))
		return
	}
	st := d.State()
	job, ok := st.Jobs[id]
	attempt := 0
	if ok {
		attempt = len(job.Attempts)
	}
	if a := q.Get("attempt"); a != "" {
		attempt, _ = strconv.Atoi(a)
	}
	if (!ok || attempt < 1 || attempt > len(job.Attempts)) && d.forwardToLeader(w, r) {
		return // this follower's state may lag the leader's by an entry or two
	}
	if !ok {
		writeError(w, http.StatusNotFound, fmt.Errorf("no job %q", id))
		return
	}
	if attempt < 1 || attempt > len(job.Attempts) {
		writeError(w, http.StatusNotFound, fmt.Errorf("job %s has no attempt %d yet (it is %v)", id, attempt, job.State))
		return
	}
	plan := job.Attempts[attempt-1].Plan
	if rank < 0 || rank >= len(plan.Ranks) {
		writeError(w, http.StatusNotFound, fmt.Errorf("job %s has ranks 0..%d", id, len(plan.Ranks)-1))
		return
	}
	node := plan.Ranks[rank].Node
	key := supervisor.Key{Job: id, Attempt: attempt, Rank: rank}
	switch {
	case node == d.cfg.Name && d.holdsLog(key):
		d.serveLog(w, r, key, offset, q.Get("follow") == "1")
		return
	case node != d.cfg.Name && d.aliveNodes()[node] && d.proxyLogs(w, r, st, node):
		return
	}
	// The node that ran the rank is gone, unreachable or lost its disk.
	d.serveCopy(w, r, st, key, node, offset)
}

// holdsLog reports whether this node, which runs or ran key, has its log
// (or will: the worker has not exited).
func (d *Daemon) holdsLog(key supervisor.Key) bool {
	_, err := os.Stat(d.paths.logPath(key.Job, key.Attempt, key.Rank))
	return err == nil || !d.sup.Done(key)
}

// serveLog answers from the local log file, waiting a little for new bytes
// when follow is set and the worker still runs.
func (d *Daemon) serveLog(w http.ResponseWriter, r *http.Request, key supervisor.Key, offset int64, follow bool) {
	path := d.paths.logPath(key.Job, key.Attempt, key.Rank)
	deadline := time.Now().Add(followWait)
	for {
		done := d.sup.Done(key)
		b, err := readFrom(path, offset, maxLogChunk)
		if err != nil && !os.IsNotExist(err) {
			writeError(w, http.StatusInternalServerError, err)
			return
		}
		if len(b) > 0 || !follow || done || time.Now().After(deadline) {
			next := offset + int64(len(b))
			w.Header().Set(api.HeaderLogOffset, strconv.FormatInt(next, 10))
			w.Header().Set(api.HeaderLogAttempt, strconv.Itoa(key.Attempt))
			if done && len(b) < maxLogChunk {
				w.Header().Set(api.HeaderLogComplete, "1")
			}
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			w.Write(b)
			return
		}
		select {
		case <-r.Context().Done():
			return
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// readFrom reads up to max bytes of path from offset.
func readFrom(path string, offset int64, max int) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b := make([]byte, max)
	n, err := f.ReadAt(b, offset)
	if err == io.EOF {
		err = nil
	}
	return b[:n], err
}

// logHeaders are the headers of a log answer a proxy passes on.
var logHeaders = []string{"Content-Type", api.HeaderLogOffset, api.HeaderLogComplete, api.HeaderLogAttempt,
	api.HeaderLogCopyHolder, api.HeaderLogCopyOf, api.HeaderLogCopyStart, api.HeaderLogCopiedAt, api.HeaderLogCopyExited}

// proxyLogs asks the node that ran the rank; false when that node could
// not be reached and nothing was answered.
func (d *Daemon) proxyLogs(w http.ResponseWriter, r *http.Request, st *coord.State, node string) bool {
	m := st.Members[node]
	if m == nil || m.APIAddr == "" || r.Header.Get(api.HeaderForwarded) == node {
		return false
	}
	ctx, cancel := context.WithTimeout(r.Context(), followWait+10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "https://"+m.APIAddr+r.URL.RequestURI(), nil)
	if err != nil {
		return false
	}
	req.Header.Set(api.HeaderForwarded, d.cfg.Name)
	resp, err := d.forwardClient().Do(req)
	if err != nil {
		d.log.Info("the node of a rank's log cannot be reached: trying its copies", "node", node, "err", err)
		return false
	}
	defer resp.Body.Close()
	relay(w, resp)
	return true
}

// relay writes resp, a log answer, to w.
func relay(w http.ResponseWriter, resp *http.Response) {
	for _, h := range logHeaders {
		if v := resp.Header.Get(h); v != "" {
			w.Header().Set(h, v)
		}
	}
	w.WriteHeader(resp.StatusCode)
	io.Copy(w, resp.Body)
}
