package api

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
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
	bases []string // the nodes to ask, in order; cur answered last
	cur   atomic.Int32
	token string
	hc    *http.Client
}

// NewClient returns a client for addr ("host:port" or "https://host:port").
// tlsConf carries the client identity or the token's CA pin; token, when
// not empty, is sent as a bearer token.
func NewClient(addr string, tlsConf *tls.Config, token string) (*Client, error) {
	if strings.TrimSpace(strings.ReplaceAll(addr, ",", "")) == "" {
		return nil, errors.New("api: no address: pass --addr HOST:PORT (or set BLOOM_ADDR)")
	}
	if tlsConf == nil {
		return nil, errors.New("api: no TLS configuration: pass --secret-file or --token")
	}
	c := &Client{token: token}
	for _, a := range strings.Split(addr, ",") {
		base := strings.TrimSuffix(strings.TrimSpace(a), "/")
		if base == "" {
			continue
		}
		if !strings.Contains(base, "://") {
			base = "https://" + base
		}
		if !strings.HasPrefix(base, "https://") {
			return nil, fmt.Errorf("api: %q: bloomd speaks HTTPS only", a)
		}
		c.bases = append(c.bases, base)
	}
	tr := &http.Transport{TLSClientConfig: tlsConf, TLSHandshakeTimeout: 10 * time.Second, MaxIdleConnsPerHost: 4}
	c.hc = &http.Client{Transport: tr, Timeout: 30 * time.Second}
	return c, nil
}

// send sends one request to the node that answered last, and on to the
// next of the client's addresses while a node cannot be reached (nothing
// was sent to it, so any request may go on). Errors that are not a node
// being down (a certificate from another cluster, a port that is not the
// API) say what to check.
func (c *Client) send(ctx context.Context, method, path string, body []byte, header http.Header) (*http.Response, error) {
	return c.sendWith(ctx, c.hc, method, path, body, header)
}

// sendWith is send through hc.
func (c *Client) sendWith(ctx context.Context, hc *http.Client, method, path string, body []byte, header http.Header) (*http.Response, error) {
	var errs []error
	first := int(c.cur.Load())
	for k := range c.bases {
		i := (first + k) % len(c.bases)
		var rd io.Reader
		if body != nil {
			rd = bytes.NewReader(body)
		}
		req, err := http.NewRequestWithContext(ctx, method, c.bases[i]+path, rd)
		if err != nil {
			return nil, fmt.Errorf("api: %w", err)
		}
		maps.Copy(req.Header, header)
		if c.token != "" {
			req.Header.Set("Authorization", "Bearer "+c.token)
		}
		resp, err := hc.Do(req)
		if err == nil {
			c.cur.Store(int32(i))
			return resp, nil
		}
		host := strings.TrimPrefix(c.bases[i], "https://")
		errs = append(errs, explain(host, err))
		if !unreachable(err) || ctx.Err() != nil {
			break
		}
	}
	return nil, fmt.Errorf("api: %s %s: %w", method, path, errors.Join(errs...))
}

// unreachable reports whether err means no request reached the node: a
// dial that failed (refused, no route, timed out).
func unreachable(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

// explain turns a transport error into what the user should check.
func explain(host string, err error) error {
	var ua x509.UnknownAuthorityError
	var hdr tls.RecordHeaderError
	msg := err.Error()
	switch {
	case errors.As(err, &ua) || strings.Contains(msg, "certificate signed by unknown authority") || strings.Contains(msg, "not from the cluster the token belongs to"):
		return fmt.Errorf("%s is not a node of the cluster your --secret-file or token is for: wrong cluster secret or token? (%w)", host, err)
	case strings.Contains(msg, "remote error: tls: bad certificate") || strings.Contains(msg, "remote error: tls: unknown certificate authority"):
		return fmt.Errorf("%s refused this client's certificate: wrong cluster secret for this cluster? (%w)", host, err)
	case errors.As(err, &hdr) || strings.Contains(msg, "does not look like a TLS handshake") || strings.Contains(msg, "server gave HTTP response"):
		return fmt.Errorf("%s does not speak bloomd's HTTPS API: is it the gossip port (bloomd join --bind)? The API is the --api address (port 7950 by default) (%w)", host, err)
	case unreachable(err):
		return fmt.Errorf("%s cannot be reached: is bloomd running there? --addr takes several nodes, comma-separated (%w)", host, err)
	}
	return fmt.Errorf("%s: %w", host, err)
}

// Close drops idle connections.
func (c *Client) Close() { c.hc.CloseIdleConnections() }

func (c *Client) do(ctx context.Context, method, path string, in, out any) error {
	var body []byte
	header := http.Header{}
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("api: encode request: %w", err)
		}
		body = b
		header.Set("Content-Type", "application/json")
	}
	resp, err := c.send(ctx, method, path, body, header)
	if err != nil {
		return err
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
