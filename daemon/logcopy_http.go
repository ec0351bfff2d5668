package daemon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"bloom/api"
	"bloom/daemon/coord"
	"bloom/daemon/supervisor"
)

// The HTTP side of log copies: a node appends to the copy it sends
// another node (POST PathInternalLogCopy), and the logs endpoint reads a
// copy from whichever live node holds one (GET PathInternalLogCopy).
// Both are for the cluster's nodes only (nodeOnly).

// serveCopy answers a read of key's log, which node ran, from a copy:
// this node's or the first live node's that holds one, asked in the order
// node sends its copies (copyHolders).
func (d *Daemon) serveCopy(w http.ResponseWriter, r *http.Request, st *coord.State, key supervisor.Key, node string, offset int64) {
	for _, m := range copyHolders(st, node, d.cfg.Name, d.aliveNodes()) {
		if m.Name != d.cfg.Name {
			if d.fetchCopy(w, r, m, key, offset) {
				return
			}
			continue
		}
		b, next, meta, ok, err := d.copies.read(d.paths.logPath(key.Job, key.Attempt, key.Rank), offset, maxLogChunk)
		if err != nil {
			d.log.Warn("read a log copy", "job", key.Job, "attempt", key.Attempt, "rank", key.Rank, "err", err)
		}
		if ok && err == nil {
			d.writeCopy(w, key, b, next, meta)
			return
		}
	}
	writeError(w, http.StatusBadGateway, fmt.Errorf("the log of rank %d (attempt %d) is on node %s, which is gone or cannot be reached, and no live node holds a copy of it",
		key.Rank, key.Attempt, node))
}

// writeCopy answers with b, the bytes of this node's copy of key's log up
// to offset next, saying it is a copy and of what.
func (d *Daemon) writeCopy(w http.ResponseWriter, key supervisor.Key, b []byte, next int64, m copyMeta) {
	h := w.Header()
	h.Set(api.HeaderLogOffset, strconv.FormatInt(next, 10))
	h.Set(api.HeaderLogAttempt, strconv.Itoa(key.Attempt))
	if next >= m.End {
		h.Set(api.HeaderLogComplete, "1") // the rank's node is gone: nothing more will come
	}
	h.Set(api.HeaderLogCopyHolder, d.cfg.Name)
	h.Set(api.HeaderLogCopyOf, m.Node)
	h.Set(api.HeaderLogCopyStart, strconv.FormatInt(m.Start, 10))
	h.Set(api.HeaderLogCopiedAt, m.CopiedAt.UTC().Format(time.RFC3339Nano))
	if m.Exited {
		h.Set(api.HeaderLogCopyExited, "1")
	}
	h.Set("Content-Type", "text/plain; charset=utf-8")
	w.Write(b)
}

// fetchCopy relays m's copy of key's log from offset; false when m holds
// none or cannot be asked, and nothing was answered.
func (d *Daemon) fetchCopy(w http.ResponseWriter, r *http.Request, m *coord.Member, key supervisor.Key, offset int64) bool {
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	u := "https://" + m.APIAddr + api.PathInternalLogCopy + "?" + logCopyValues(key, offset).Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return false
	}
	req.Header.Set(api.HeaderForwarded, d.cfg.Name)
	resp, err := d.forwardClient().Do(req)
	if err != nil {
		d.log.Info("ask for a log copy", "node", m.Name, "err", err)
		return false
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
		return false
	}
	relay(w, resp)
	return true
}

// logCopyKey reads the rank, its node and the offset a copy request
// names; the job and attempt must be known to this node.
func (d *Daemon) logCopyKey(r *http.Request) (key supervisor.Key, node string, off int64, err error) {
	q := r.URL.Query()
	key.Job = q.Get("job")
	a, err1 := strconv.Atoi(q.Get("attempt"))
	rank, err2 := strconv.Atoi(q.Get("rank"))
	off, err3 := strconv.ParseInt(q.Get("offset"), 10, 64)
	if err := errors.Join(err1, err2, err3); err != nil || off < 0 {
		return key, "", 0, errors.New("job, attempt, rank and a non-negative offset, please")
	}
	key.Attempt, key.Rank = a, rank
	j := d.State().Jobs[key.Job]
	if j == nil || a < 1 || a > len(j.Attempts) || rank < 0 || rank >= len(j.Attempts[a-1].Plan.Ranks) {
		return key, "", 0, errNoRank
	}
	return key, j.Attempts[a-1].Plan.Ranks[rank].Node, off, nil
}

var errNoRank = errors.New("no such job, attempt or rank here (yet)")

// handleLogCopyPush appends the body to the copy of a rank's log; only
// the node that runs the rank may send it.
func (d *Daemon) handleLogCopyPush(w http.ResponseWriter, r *http.Request) {
	key, node, off, err := d.logCopyKey(r)
	switch {
	case errors.Is(err, errNoRank):
		writeError(w, http.StatusNotFound, err)
		return
	case err != nil:
		writeError(w, http.StatusBadRequest, err)
		return
	case certNode(r) != node:
		writeError(w, http.StatusForbidden, fmt.Errorf("only %s, which runs rank %d of attempt %d, may copy its log", node, key.Rank, key.Attempt))
		return
	case node == d.cfg.Name:
		writeError(w, http.StatusConflict, fmt.Errorf("this node runs rank %d of attempt %d: it keeps the log itself", key.Rank, key.Attempt))
		return
	}
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxLogChunk))
	if err != nil {
		badRequest(w, r, err)
		return
	}
	m, err := d.copies.append(d.paths.logPath(key.Job, key.Attempt, key.Rank), node, off, b, r.URL.Query().Get("exited") == "1", time.Now())
	if err != nil {
		writeError(w, http.StatusInternalServerError, err)
		return
	}
	w.Header().Set(api.HeaderLogOffset, strconv.FormatInt(m.End, 10))
	if m.Exited {
		w.Header().Set(api.HeaderLogCopyExited, "1")
	}
	w.WriteHeader(http.StatusOK)
}

// handleLogCopyRead answers from this node's copy of a rank's log; 404
// when it holds none.
func (d *Daemon) handleLogCopyRead(w http.ResponseWriter, r *http.Request) {
	key, node, off, err := d.logCopyKey(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	b, next, m, ok, err := d.copies.read(d.paths.logPath(key.Job, key.Attempt, key.Rank), off, maxLogChunk)
	switch {
	case err != nil:
		writeError(w, http.StatusInternalServerError, err)
	case !ok || node == d.cfg.Name:
		writeError(w, http.StatusNotFound, fmt.Errorf("no copy of the log of rank %d (attempt %d) on this node", key.Rank, key.Attempt))
	default:
		d.writeCopy(w, key, b, next, m)
	}
}
