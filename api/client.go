package api

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// StatusError is a non-2xx answer.
type StatusError struct {
	Code    int
	Message string
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("api: %d %s: %s", e.Code, http.StatusText(e.Code), e.Message)
}

// Client calls one bloomd's API. Any node answers reads; writes are
// forwarded to the leader by the node.
type Client struct {
	base  string
	token string
	hc    *http.Client
}

// NewClient returns a client for addr ("host:port" or "https://host:port").
// tlsConf carries the client identity or the token's CA pin; token, when
// not empty, is sent as a bearer token.
func NewClient(addr string, tlsConf *tls.Config, token string) (*Client, error) {
	if addr == "" {
		return nil, errors.New("api: no address: pass --addr HOST:PORT (or set BLOOM_ADDR)")
	}
	if tlsConf == nil {
		return nil, errors.New("api: no TLS configuration: pass --secret-file or --token")
	}
	base := strings.TrimSuffix(addr, "/")
	if !strings.Contains(base, "://") {
		base = "https://" + base
	}
	if !strings.HasPrefix(base, "https://") {
		return nil, fmt.Errorf("api: %q: bloomd speaks HTTPS only", addr)
	}
	tr := &http.Transport{TLSClientConfig: tlsConf, TLSHandshakeTimeout: 10 * time.Second, MaxIdleConnsPerHost: 4}
	return &Client{base: base, token: token, hc: &http.Client{Transport: tr, Timeout: 30 * time.Second}}, nil
}

// Close drops idle connections.
func (c *Client) Close() { c.hc.CloseIdleConnections() }

func (c *Client) do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("api: encode request: %w", err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return fmt.Errorf("api: %w", err)
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return fmt.Errorf("api: %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("api: read %s: %w", path, err)
	}
	if resp.StatusCode/100 != 2 {
		var eb ErrorBody
		if json.Unmarshal(b, &eb) != nil || eb.Error == "" {
			eb.Error = strings.TrimSpace(string(b))
		}
		return &StatusError{Code: resp.StatusCode, Message: eb.Error}
	}
	if s, ok := out.(*string); ok {
		*s = string(b)
		return nil
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("api: decode %s: %w", path, err)
	}
	return nil
}

// Members lists the members as the answering node sees them.
func (c *Client) Members(ctx context.Context) (*MembersResponse, error) {
	var r MembersResponse
	return &r, c.do(ctx, http.MethodGet, PathMembers, nil, &r)
}

// Status reports the Raft and cluster state.
func (c *Client) Status(ctx context.Context) (*Status, error) {
	var r Status
	return &r, c.do(ctx, http.MethodGet, PathStatus, nil, &r)
}

// Restart asks the node this client talks to to restart (checkpoint its
// jobs, stop gracefully, start again).
func (c *Client) Restart(ctx context.Context) (*RestartReply, error) {
	var r RestartReply
	return &r, c.do(ctx, http.MethodPost, PathRestart, struct{}{}, &r)
}

// Jobs lists the jobs.
func (c *Client) Jobs(ctx context.Context) ([]Job, error) {
	var r JobsResponse
	return r.Jobs, c.do(ctx, http.MethodGet, PathJobs, nil, &r)
}

// SubmitJob submits a job; the leader commits it.
func (c *Client) SubmitJob(ctx context.Context, req SubmitJobRequest) (*Job, error) {
	var r Job
	return &r, c.do(ctx, http.MethodPost, PathJobs, req, &r)
}

// Metrics returns the Prometheus text exposition.
func (c *Client) Metrics(ctx context.Context) (string, error) {
	var s string
	return s, c.do(ctx, http.MethodGet, PathMetrics, nil, &s)
}
