package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"time"
)

// What `bloomctl -o json` prints, as far as the soak reads it (the api
// package's types, by their JSON names).
type (
	jobInfo struct {
		ID          string       `json:"id"`
		Name        string       `json:"name"`
		State       string       `json:"state"`
		Reason      string       `json:"reason"`
		Plan        *jobPlan     `json:"plan"`
		Progress    *progress    `json:"progress"`
		Attempts    []attempt    `json:"attempts"`
		Checkpoints []checkpoint `json:"checkpoints"`
	}
	jobPlan struct {
		DP    int `json:"dp"`
		Ranks []struct {
			Rank int    `json:"rank"`
			Node string `json:"node"`
		} `json:"ranks"`
	}
	progress struct {
		Attempt int     `json:"attempt"`
		Step    int64   `json:"step"`
		Steps   int64   `json:"steps"`
		Loss    float64 `json:"loss"`
		Ranks   int     `json:"ranks"`
	}
	attempt struct {
		N         int    `json:"n"`
		StartedAt int64  `json:"started_at"` // unix ms
		EndedAt   int64  `json:"ended_at"`
		FromStep  int64  `json:"from_step"`
		FromDir   string `json:"from_dir"`
		Cause     string `json:"cause"`
		LastStep  int64  `json:"last_step"`
		StepsLost int64  `json:"steps_lost"`
	}
	checkpoint struct {
		Step     int64  `json:"step"`
		Dir      string `json:"dir"`
		Manifest string `json:"manifest"` // hex SHA-256 of manifest.json
	}
	checkpointList struct {
		Checkpoints []checkpoint `json:"checkpoints"`
	}
	clusterStatus struct {
		Leader string `json:"leader"`
		Health struct {
			Healthy bool   `json:"healthy"`
			Reason  string `json:"reason"`
		} `json:"health"`
	}
	memberList struct {
		Members []struct {
			Name  string `json:"name"`
			State string `json:"state"`
			Role  string `json:"role"`
		} `json:"members"`
	}
)

const (
	jobSucceeded = "succeeded"
	jobRunning   = "running"
)

func terminal(state string) bool {
	return state == jobSucceeded || state == "failed" || state == "cancelled"
}

// running is the attempt that is training now, or nil: the job runs and
// the last attempt reported a step past the one it started from.
func (j *jobInfo) running() *attempt {
	n := len(j.Attempts)
	if n == 0 || j.State == "recovering" || terminal(j.State) || j.Progress == nil || j.Progress.Attempt != n {
		return nil
	}
	if a := &j.Attempts[n-1]; a.EndedAt == 0 && j.Progress.Step > a.FromStep {
		return a
	}
	return nil
}

// Ctl runs `bloomctl -o json ARGS...` against a node that is up and
// reachable, the next one when it fails (three at most), and decodes
// what it prints into v unless v is nil.
func (c *Cluster) Ctl(ctx context.Context, v any, args ...string) error {
	var last error
	tried := 0
	for _, n := range c.nodes {
		if !n.Up() || n.Partitioned || n.API == "" {
			continue
		}
		if tried++; tried > 3 {
			break
		}
		out, err := c.ctlOn(ctx, n, args...)
		if err != nil {
			last = err
			continue
		}
		if v != nil {
			if err := json.Unmarshal(out, v); err != nil {
				return fmt.Errorf("soak: bloomctl %s: %w in %.300q", strings.Join(args, " "), err, out)
			}
		}
		return nil
	}
	if last == nil {
		last = errors.New("soak: no node is up to ask")
	}
	return last
}

// first is the first node that is up and reachable, or nil.
func (c *Cluster) first() *Node {
	for _, n := range c.nodes {
		if n.Up() && !n.Partitioned && n.API != "" {
			return n
		}
	}
	return nil
}

func (c *Cluster) ctlOn(ctx context.Context, n *Node, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	argv := append([]string{"--addr", n.API, "--secret-file", c.secret, "-o", "json"}, args...)
	cmd := exec.CommandContext(ctx, c.bloomctl(), argv...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("soak: bloomctl %s (via %s): %v: %s", strings.Join(args, " "), n.Name, err,
			strings.TrimSpace(stderr.String()))
	}
	return out, nil
}

// Job is `bloomctl job ID`.
func (c *Cluster) Job(ctx context.Context, id string) (*jobInfo, error) {
	var j jobInfo
	return &j, c.Ctl(ctx, &j, "job", id)
}

// Checkpoints is `bloomctl checkpoints ID`: the committed ones.
func (c *Cluster) Checkpoints(ctx context.Context, id string) ([]checkpoint, error) {
	var l checkpointList
	return l.Checkpoints, c.Ctl(ctx, &l, "checkpoints", id)
}

// Leader is the Raft leader's name, as a node that is up sees it.
func (c *Cluster) Leader(ctx context.Context) (string, error) {
	var s clusterStatus
	if err := c.Ctl(ctx, &s, "status"); err != nil {
		return "", err
	}
	if s.Leader == "" {
		return "", errors.New("soak: no leader")
	}
	return s.Leader, nil
}

// WaitHealthy waits until gossip shows every node alive and Raft has a
// healthy leader.
func (c *Cluster) WaitHealthy(ctx context.Context, d time.Duration) error {
	return waitFor(ctx, d, "every node alive, Raft healthy", func() (bool, error) {
		var m memberList
		if err := c.Ctl(ctx, &m, "members"); err != nil {
			return false, retry(err)
		}
		alive := 0
		for _, x := range m.Members {
			if x.State == "alive" {
				alive++
			}
		}
		if alive < len(c.nodes) {
			return false, retry(fmt.Errorf("%d of %d members alive", alive, len(c.nodes)))
		}
		var s clusterStatus
		if err := c.Ctl(ctx, &s, "status"); err != nil {
			return false, retry(err)
		}
		return s.Health.Healthy, retry(errors.New(s.Health.Reason))
	})
}

// WaitJob polls `bloomctl job ID` until cond holds, for up to d. A job
// that ends without cond holding is an error at once.
func (c *Cluster) WaitJob(ctx context.Context, id string, d time.Duration, what string, cond func(*jobInfo) bool) (*jobInfo, error) {
	var last *jobInfo
	err := waitFor(ctx, d, what, func() (bool, error) {
		j, err := c.Job(ctx, id)
		if err != nil {
			return false, retry(err)
		}
		last = j
		if cond(j) {
			return true, nil
		}
		if terminal(j.State) {
			return false, fmt.Errorf("job %s ended %s (%s)%s", id, j.State, j.Reason, attemptsNote(j))
		}
		return false, nil
	})
	return last, err
}

func attemptsNote(j *jobInfo) string {
	var b strings.Builder
	for _, a := range j.Attempts {
		fmt.Fprintf(&b, "; attempt %d from step %d to %d: %s", a.N, a.FromStep, a.LastStep, a.Cause)
	}
	return b.String()
}
