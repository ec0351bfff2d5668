package sched

import (
	"fmt"
	"time"

	"bloom/daemon/coord"
	"bloom/daemon/jobspec"
)

// shrink re-plans a recovering job that cannot get its devices back on
// fewer data-parallel replicas (DESIGN.md §10): each replica then runs
// more micro-batches per step, so the global batch, the samples of every
// step and the math stay the job's. It does so only when the spec allows
// it (--min-nodes > 0), once --node-grace seconds have passed since the
// attempt ended (a node that comes back in time gets the job back on its
// full layout), and only onto at least --min-nodes nodes. It returns the
// plan, or nil and why the job waits.
func shrink(job *coord.Job, spec *jobspec.Spec, free []NodeDevices, now time.Time) (*coord.Plan, string) {
	n := len(job.Attempts)
	if spec.MinNodes == 0 || job.State != coord.JobRecovering || n == 0 {
		return nil, ""
	}
	ended := time.UnixMilli(job.Attempts[n-1].EndedAt)
	if wait := time.Duration(spec.NodeGrace)*time.Second - now.Sub(ended); wait > 0 {
		return nil, fmt.Sprintf("re-planned on fewer data-parallel replicas in %v unless the devices come back (--node-grace %d)",
			wait.Round(time.Second), spec.NodeGrace)
	}
	for dp := spec.DataParallel - 1; dp >= 1; dp-- {
		if spec.GlobalBatch%(spec.MicroBatch*dp) != 0 {
			continue // the global batch must split evenly into micro-batches
		}
		p, err := Place(free, spec.TensorParallel, spec.PipelineParallel, dp)
		if err != nil {
			continue
		}
		if nodes := planNodes(&p); nodes < spec.MinNodes {
			return nil, fmt.Sprintf("DP %d would fit on %d nodes, fewer than --min-nodes %d", dp, nodes, spec.MinNodes)
		}
		return &p, ""
	}
	return nil, fmt.Sprintf("no smaller data-parallel size fits the free devices on at least --min-nodes %d nodes", spec.MinNodes)
}
