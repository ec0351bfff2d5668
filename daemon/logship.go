package daemon

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"time"

	"bloom/api"
	"bloom/daemon/coord"
	"bloom/daemon/supervisor"
)

// Shipping this node's rank logs to their copy holder (see logcopy.go):
// every Jobs.LogCopyInterval, for each rank any attempt ran here, the
// bytes the holder's copy lacks, at most the log's last Jobs.LogCopyBytes,
// in chunks of at most maxLogChunk, over the API's node-to-node HTTPS
// (client certificates from the cluster secret). A log is a stream of
// small appends, so a kept-alive HTTPS connection suits it better than
// the checkpoint data plane's connection per file (package daemon/xfer).

// copyHolders are the nodes that may hold the copy of a log written on
// node, in the order to try: the ring of member names after node's, alive
// (or this node, me) and with an API address. The first is where node
// sends its copies, so every node finds them the same way.
func copyHolders(st *coord.State, node, me string, alive map[string]bool) []*coord.Member {
	names := st.MemberNames()
	i := 0
	for i < len(names) && names[i] <= node {
		i++
	}
	var out []*coord.Member
	for _, n := range append(names[i:], names[:i]...) {
		if m := st.Members[n]; n != node && (alive[n] || n == me) && m.APIAddr != "" {
			out = append(out, m)
		}
	}
	return out
}

// sendFunc appends b, the bytes of key's log from off, to the copy on
// node to; it returns the copy's end and whether it reaches the worker's
// exit. An empty b without exited asks and changes nothing.
type sendFunc func(ctx context.Context, to *coord.Member, key supervisor.Key, off int64, b []byte, exited bool) (end int64, copyExited bool, err error)

// logShipper keeps the copies of this node's rank logs up to date. It is
// used by one goroutine.
type logShipper struct {
	bound int64 // the most bytes of a log's end that are copied
	send  sendFunc
	ranks map[supervisor.Key]*shipped
}

// shipped is what a rank's copy holder has, as far as the shipper knows.
type shipped struct {
	to      string
	end     int64 // the copy's end; -1: not asked yet
	exited  bool  // the copy reaches the worker's exit: nothing more to send
	failing bool  // the last send failed (and was logged)
}

func newLogShipper(bound int64, send sendFunc) *logShipper {
	return &logShipper{bound: bound, send: send, ranks: map[supervisor.Key]*shipped{}}
}

// ship sends to to what its copy of key's log (the file at path) lacks;
// exited says the worker has exited, so the log is whole. A new holder is
// first asked what it has (this node may have restarted).
func (s *logShipper) ship(ctx context.Context, key supervisor.Key, path string, to *coord.Member, exited bool) error {
	sh := s.ranks[key]
	if sh == nil || sh.to != to.Name {
		sh = &shipped{to: to.Name, end: -1}
		s.ranks[key] = sh
	}
	if sh.exited {
		return nil
	}
	fi, err := os.Stat(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil // the worker has not started (or this disk lost it)
	}
	if err != nil {
		return err
	}
	if sh.end < 0 {
		if sh.end, sh.exited, err = s.send(ctx, to, key, 0, nil, false); err != nil {
			sh.end = -1
			return err
		}
	}
	return s.sendNew(ctx, sh, key, path, to, fi.Size(), exited)
}

// sendNew sends the bytes of the size-byte log at path past sh.end, at
// most its last s.bound, marking the last chunk exited.
func (s *logShipper) sendNew(ctx context.Context, sh *shipped, key supervisor.Key, path string, to *coord.Member, size int64, exited bool) error {
	for !sh.exited {
		from := max(sh.end, size-s.bound, 0)
		b, err := readFrom(path, from, int(min(maxLogChunk, max(size-from, 0))))
		if err != nil {
			return err
		}
		last := from+int64(len(b)) >= size
		if len(b) == 0 && !exited {
			return nil
		}
		end, copyExited, err := s.send(ctx, to, key, from, b, exited && last)
		if err != nil {
			return err
		}
		if len(b) > 0 && end <= from {
			return fmt.Errorf("daemon: %s's copy of the log ends at %d after an append at %d", to.Name, end, from)
		}
		sh.end, sh.exited = end, copyExited
		if last {
			return nil
		}
	}
	return nil
}

// forget drops what the shipper knows of ranks of jobs st no longer has.
func (s *logShipper) forget(st *coord.State) {
	for k := range s.ranks {
		if st.Jobs[k.Job] == nil {
			delete(s.ranks, k)
		}
	}
}

// ownRanks are the ranks of every attempt of every job that ran on node.
func ownRanks(st *coord.State, node string) []supervisor.Key {
	var out []supervisor.Key
	for id, j := range st.Jobs {
		for i, a := range j.Attempts {
			for r, rk := range a.Plan.Ranks {
				if rk.Node == node {
					out = append(out, supervisor.Key{Job: id, Attempt: i + 1, Rank: r})
				}
			}
		}
	}
	return out
}

// shipLogs is the goroutine that copies this node's rank logs; it ends
// with the daemon.
func (d *Daemon) shipLogs() {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { // owned by shipLogs: ends with ctx
		select {
		case <-d.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	s := newLogShipper(d.cfg.Jobs.LogCopyBytes, d.sendLogCopy)
	t := time.NewTicker(d.cfg.Jobs.LogCopyInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		d.shipRound(ctx, s)
	}
}

// shipRound brings every copy of this node's logs up to date once.
func (d *Daemon) shipRound(ctx context.Context, s *logShipper) {
	st := d.State()
	s.forget(st)
	holders := copyHolders(st, d.cfg.Name, d.cfg.Name, d.aliveNodes())
	if len(holders) == 0 {
		return // alone: nowhere to copy to
	}
	to := holders[0]
	for _, key := range ownRanks(st, d.cfg.Name) {
		err := s.ship(ctx, key, d.paths.logPath(key.Job, key.Attempt, key.Rank), to, d.sup.Done(key))
		if ctx.Err() != nil {
			return
		}
		sh := s.ranks[key]
		if err != nil && !sh.failing {
			d.log.Warn("copy rank log", "job", key.Job, "attempt", key.Attempt, "rank", key.Rank, "to", to.Name, "err", err)
		}
		sh.failing = err != nil
	}
}

// sendLogCopy is the daemon's sendFunc: a POST to the holder's
// PathInternalLogCopy with this node's certificate.
func (d *Daemon) sendLogCopy(ctx context.Context, to *coord.Member, key supervisor.Key, off int64, b []byte, exited bool) (int64, bool, error) {
	v := logCopyValues(key, off)
	if exited {
		v.Set("exited", "1")
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "https://"+to.APIAddr+api.PathInternalLogCopy+"?"+v.Encode(), bytes.NewReader(b))
	if err != nil {
		return 0, false, err
	}
	resp, err := d.forwardClient().Do(req)
	if err != nil {
		return 0, false, err
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	if resp.StatusCode != http.StatusOK {
		return 0, false, fmt.Errorf("daemon: %s answers %s: %s", to.Name, resp.Status, bytes.TrimSpace(msg))
	}
	end, err := strconv.ParseInt(resp.Header.Get(api.HeaderLogOffset), 10, 64)
	return end, resp.Header.Get(api.HeaderLogCopyExited) == "1", err
}

// logCopyValues is the query that names key's log and an offset.
func logCopyValues(key supervisor.Key, off int64) url.Values {
	return url.Values{"job": {key.Job}, "attempt": {strconv.Itoa(key.Attempt)}, "rank": {strconv.Itoa(key.Rank)},
		"offset": {strconv.FormatInt(off, 10)}}
}
