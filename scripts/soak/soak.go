package main

import (
	"context"
	"errors"
	"fmt"
	"math/rand"
	"path/filepath"
	"slices"
	"time"
)

// result is what a soak found.
type result struct {
	Ref, Job          *jobInfo
	RefTime, SoakTime time.Duration
	Failures          []Failure
	// Weights is nil when the soak's final shards equal the reference's,
	// which Shards names.
	Weights         error
	Shards          string
	RefCkpts, Ckpts ckptReport
	// Healthy is nil when every node was alive and Raft healthy at the end.
	Healthy          error
	RefSave, Save    string
	Err              error // the soak could not finish
	Steps, Interval  int
	Nodes            int
	Seed             int64
	PartitionSkipped string
}

// ok: the job succeeded, bit-identical to the reference, every committed
// checkpoint whole, every failure recovered from.
func (r *result) ok() bool {
	if r.Err != nil || r.Job == nil || r.Job.State != jobSucceeded || r.Weights != nil || r.Healthy != nil ||
		len(r.Ckpts.Problems) > 0 || len(r.RefCkpts.Problems) > 0 {
		return false
	}
	return !slices.ContainsFunc(r.Failures, func(f Failure) bool { return f.Err != nil })
}

// runSoak trains the job once uninterrupted (the reference), then again
// with the failures of plan, and checks the outcome.
func runSoak(ctx context.Context, cfg config, ch *chaos, plan []action) *result {
	c := ch.c
	r := &result{Steps: cfg.Steps, Interval: cfg.SaveInterval, Nodes: cfg.Nodes, Seed: cfg.Seed,
		RefSave: filepath.Join(cfg.Out, "ckpt-ref"), Save: filepath.Join(cfg.Out, "ckpt-soak")}
	spec := jobSpec{Name: "soak-ref", Steps: cfg.Steps, DP: cfg.Nodes, SaveInterval: cfg.SaveInterval, Save: r.RefSave, Seed: cfg.Seed}
	start := time.Now()
	if r.Ref, r.Err = runToEnd(ctx, c, spec, cfg.Timeout); r.Err != nil {
		return r
	}
	r.RefTime = time.Since(start)
	c.logf("reference: %d steps in %v", cfg.Steps, r.RefTime.Round(time.Second))

	spec.Name, spec.Save, spec.MaxRestarts = "soak", r.Save, 3*len(plan)+3
	start = time.Now()
	job, err := c.Submit(ctx, spec)
	if err != nil {
		r.Err = err
		return r
	}
	r.Failures = inject(ctx, ch, job.ID, plan, injectionSteps(ch.rng, len(plan), cfg.Steps, cfg.SaveInterval))
	r.Job, r.Err = c.WaitJob(ctx, job.ID, cfg.Timeout, "the soak job to succeed", func(j *jobInfo) bool { return j.State == jobSucceeded })
	r.SoakTime = time.Since(start)
	if r.Err == nil {
		r.Err = r.check(ctx, c)
	}
	return r
}

// runToEnd submits a job and waits for it to succeed.
func runToEnd(ctx context.Context, c *Cluster, s jobSpec, d time.Duration) (*jobInfo, error) {
	j, err := c.Submit(ctx, s)
	if err != nil {
		return nil, err
	}
	return c.WaitJob(ctx, j.ID, d, s.Name+" to succeed", func(j *jobInfo) bool { return j.State == jobSucceeded })
}

// inject does each fault of plan once the job trains at or past its step
// (and a few steps into the current attempt); it stops early when the
// job ends or a failure is not recovered from.
func inject(ctx context.Context, ch *chaos, id string, plan []action, steps []int64) []Failure {
	var out []Failure
	for i, a := range plan {
		j, err := ch.c.WaitJob(ctx, id, 10*time.Minute, fmt.Sprintf("step %d", steps[i]), func(j *jobInfo) bool {
			r := j.running()
			return terminal(j.State) || r != nil && j.Progress.Step >= max(steps[i], r.FromStep+3) &&
				j.Plan != nil && j.Progress.Ranks == len(j.Plan.Ranks)
		})
		if err != nil || terminal(j.State) {
			if err != nil {
				out = append(out, Failure{Kind: a.kind, Err: err})
			}
			return out
		}
		f := ch.Inject(ctx, id, a)
		out = append(out, f)
		if f.Err != nil {
			ch.c.logf("%s %s: %v", f.Kind, f.Target, f.Err)
			return out
		}
		ch.c.logf("%s %s: attempt %d ended after %v (%s); training again after %v; %d steps lost",
			f.Kind, f.Target, f.Attempt, f.Detect.Round(time.Millisecond), f.Cause, f.Resume.Round(time.Millisecond), f.StepsLost)
	}
	return out
}

// injectionSteps spreads n faults over the run, one per equal slice of
// [interval, steps−2·interval], at a random step of its slice.
func injectionSteps(rng *rand.Rand, n, steps, interval int) []int64 {
	lo, hi := interval, max(steps-2*interval, interval+n)
	out := make([]int64, n)
	for i := range out {
		a, b := lo+i*(hi-lo)/n, lo+(i+1)*(hi-lo)/n
		out[i] = int64(a + rng.Intn(max(b-a, 1)))
	}
	return out
}

// faultPlan is n faults of the given kinds: each kind once, in random
// order, then random kinds.
func faultPlan(rng *rand.Rand, kinds []string, n int) ([]action, error) {
	var all []action
	for _, k := range kinds {
		a, err := actionOf(k)
		if err != nil {
			return nil, err
		}
		all = append(all, a)
	}
	if len(all) == 0 {
		return nil, errors.New("soak: no actions")
	}
	plan := slices.Clone(all)
	rng.Shuffle(len(plan), func(i, j int) { plan[i], plan[j] = plan[j], plan[i] })
	for len(plan) < n {
		plan = append(plan, all[rng.Intn(len(all))])
	}
	return plan[:n], nil
}

// check compares the weights with the reference's and checks every
// committed checkpoint of both runs.
func (r *result) check(ctx context.Context, c *Cluster) error {
	refCks, err1 := c.Checkpoints(ctx, r.Ref.ID)
	cks, err2 := c.Checkpoints(ctx, r.Job.ID)
	if err := errors.Join(err1, err2); err != nil {
		return err
	}
	r.Shards, r.Weights = sameWeights(refCks, cks)
	r.RefCkpts = checkCheckpoints(refCks, r.RefSave, r.Ref.Attempts)
	r.Ckpts = checkCheckpoints(cks, r.Save, r.Job.Attempts)
	r.Healthy = c.WaitHealthy(ctx, time.Minute)
	return nil
}
