package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
)

// jobSpec is the soak's training job: bloom-tiny, one sequence per rank
// and step, data parallel over DP ranks, checkpoints in Save (one
// directory every node writes to: a shared file system).
type jobSpec struct {
	Name         string
	Steps        int
	DP           int
	SaveInterval int
	Save         string
	MaxRestarts  int
	Seed         int64
}

// args is the `bloomctl submit pretrain` command line.
func (s jobSpec) args() []string {
	itoa := strconv.Itoa
	return []string{"submit", "pretrain", "--name", s.Name, "--model-preset", "bloom-tiny",
		"--data-parallel-size", itoa(s.DP), "--micro-batch-size", "1", "--global-batch-size", itoa(s.DP),
		"--seq-length", "32", "--lr", "5e-3", "--min-lr", "3e-4", "--lr-warmup-samples", "16",
		"--train-iters", itoa(s.Steps), "--save-interval", itoa(s.SaveInterval), "--save", s.Save,
		"--log-interval", "1", "--max-restarts", itoa(s.MaxRestarts), "--seed", strconv.FormatInt(s.Seed, 10)}
}

// Submit submits the job, once, through the first node that is up, and
// returns it as the cluster took it.
func (c *Cluster) Submit(ctx context.Context, s jobSpec) (*jobInfo, error) {
	n := c.first()
	if n == nil {
		return nil, errors.New("soak: no node is up to submit to")
	}
	out, err := c.ctlOn(ctx, n, s.args()...)
	if err != nil {
		return nil, err
	}
	var j jobInfo
	if err := json.Unmarshal(out, &j); err != nil {
		return nil, fmt.Errorf("soak: bloomctl submit: %w in %.300q", err, out)
	}
	c.logf("submitted %s as job %s: bloom-tiny, DP %d, %d steps, a checkpoint every %d into %s",
		s.Name, j.ID, s.DP, s.Steps, s.SaveInterval, s.Save)
	return &j, nil
}
