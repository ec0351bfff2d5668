package api

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// JobList lists every job with its plan and progress.
func (c *Client) JobList(ctx context.Context) ([]JobInfo, error) {
	var r JobInfoList
	return r.Jobs, c.do(ctx, http.MethodGet, PathJobs, nil, &r)
}

// Job returns one job.
func (c *Client) Job(ctx context.Context, id string) (*JobInfo, error) {
	var r JobInfo
	return &r, c.do(ctx, http.MethodGet, jobPath(id, ""), nil, &r)
}

// Submit submits a job; the leader validates and commits it.
func (c *Client) Submit(ctx context.Context, req SubmitJobRequest) (*JobInfo, error) {
	var r JobInfo
	return &r, c.do(ctx, http.MethodPost, PathJobs, req, &r)
}

// Cancel cancels a job: its workers are stopped.
func (c *Client) Cancel(ctx context.Context, id string) (*JobInfo, error) {
	var r JobInfo
	return &r, c.do(ctx, http.MethodPost, jobPath(id, "/cancel"), struct{}{}, &r)
}

// History is a job's steps, as Raft keeps them.
func (c *Client) History(ctx context.Context, id string) (*JobHistory, error) {
	var r JobHistory
	return &r, c.do(ctx, http.MethodGet, jobPath(id, "/history"), nil, &r)
}

// Checkpoints lists a job's committed checkpoints.
func (c *Client) Checkpoints(ctx context.Context, id string) (*CheckpointList, error) {
	var r CheckpointList
	return &r, c.do(ctx, http.MethodGet, jobPath(id, "/checkpoints"), nil, &r)
}

// LogQuery picks a rank's log and where to read from. Attempt 0 is the
// latest; Follow waits a little for new bytes when there are none yet.
type LogQuery struct {
	Rank, Attempt int
	Offset        int64
	Follow        bool
}

// LogChunk is a piece of a rank's log.
type LogChunk struct {
	Data []byte
	// Next is the offset to read from next.
	Next int64
	// Complete: the worker has exited and Data reaches the end of its log.
	Complete bool
	// Attempt is the attempt whose log this is: pass it on to keep
	// following the same one.
	Attempt int
	// Copy is set when the answer comes from a copy of the log another
	// node kept, because the node that ran the rank is gone.
	Copy *LogCopy
}

// LogCopy describes the copy a log chunk was read from. Every node copies
// the logs of its ranks to another node every few seconds and when a
// worker exits, bounded to the last few MiB of each log; so a copy may
// lack the log's first bytes (Start > 0) and, when the node died, its
// last seconds (Exited false).
type LogCopy struct {
	Holder string // the node that holds the copy
	Of     string // the node that ran the rank
	// Start is the offset of the copy's first byte: earlier bytes were
	// beyond its bound.
	Start int64
	// CopiedAt is when the copy last received bytes.
	CopiedAt time.Time
	// Exited: the copy reaches the worker's exit, nothing is missing at
	// its end.
	Exited bool
}

// Logs reads a piece of a rank's log, from whichever node runs the rank,
// or from the copy another node kept when that node is gone (Copy says so).
func (c *Client) Logs(ctx context.Context, id string, q LogQuery) (*LogChunk, error) {
	v := url.Values{"rank": {strconv.Itoa(q.Rank)}, "offset": {strconv.FormatInt(q.Offset, 10)}}
	if q.Attempt > 0 {
		v.Set("attempt", strconv.Itoa(q.Attempt))
	}
	if q.Follow {
		v.Set("follow", "1")
	}
	b, h, err := c.raw(ctx, http.MethodGet, jobPath(id, "/logs")+"?"+v.Encode(), nil)
	if err != nil {
		return nil, err
	}
	ch := &LogChunk{Data: b, Complete: h.Get(HeaderLogComplete) == "1"}
	ch.Attempt, _ = strconv.Atoi(h.Get(HeaderLogAttempt))
	if holder := h.Get(HeaderLogCopyHolder); holder != "" {
		ch.Copy = &LogCopy{Holder: holder, Of: h.Get(HeaderLogCopyOf), Exited: h.Get(HeaderLogCopyExited) == "1"}
		ch.Copy.Start, _ = strconv.ParseInt(h.Get(HeaderLogCopyStart), 10, 64)
		ch.Copy.CopiedAt, _ = time.Parse(time.RFC3339Nano, h.Get(HeaderLogCopiedAt))
	}
	if ch.Next, err = strconv.ParseInt(h.Get(HeaderLogOffset), 10, 64); err != nil {
		return nil, fmt.Errorf("api: logs: bad %s header %q", HeaderLogOffset, h.Get(HeaderLogOffset))
	}
	return ch, nil
}

// Report sends a node's report to the coordinator (the node forwards it
// to the leader).
func (c *Client) Report(ctx context.Context, r NodeReport) (*ReportReply, error) {
	var out ReportReply
	return &out, c.do(ctx, http.MethodPost, PathInternalReport, r, &out)
}

// Rendezvous reads a value a worker of job's attempt published on the
// answering node; a *StatusError with code 404 means not yet.
func (c *Client) Rendezvous(ctx context.Context, job string, attempt int, key string) ([]byte, error) {
	v := url.Values{"job": {job}, "attempt": {strconv.Itoa(attempt)}, "key": {key}}
	b, _, err := c.raw(ctx, http.MethodGet, PathInternalRendezvous+"?"+v.Encode(), nil)
	return b, err
}

// raw is do for endpoints that answer bytes rather than JSON.
func (c *Client) raw(ctx context.Context, method, path string, body []byte) ([]byte, http.Header, error) {
	resp, err := c.send(ctx, method, path, body, nil)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, nil, fmt.Errorf("api: read %s: %w", path, err)
	}
	if resp.StatusCode/100 != 2 {
		var eb ErrorBody
		if json.Unmarshal(b, &eb) != nil || eb.Error == "" {
			eb.Error = strings.TrimSpace(string(b))
		}
		return nil, nil, &StatusError{Code: resp.StatusCode, Message: eb.Error}
	}
	return b, resp.Header, nil
}
