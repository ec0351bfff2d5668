package sched

import (
	"strings"
	"testing"
	"time"

	"bloom/daemon/coord"
	"bloom/daemon/jobspec"
)

// TestShrink: a recovering job is re-planned on fewer data-parallel
// replicas only with --min-nodes, only after --node-grace, only to a DP
// that divides the global batch into micro-batches, and only onto at least
// --min-nodes nodes.
func TestShrink(t *testing.T) {
	now := time.UnixMilli(1_000_000)
	job := &coord.Job{ID: "j", State: coord.JobRecovering, Attempts: []coord.Attempt{{N: 1, EndedAt: now.UnixMilli() - 10_000}}}
	spec := jobspec.Default()
	spec.DataParallel, spec.MicroBatch, spec.GlobalBatch, spec.MinNodes, spec.NodeGrace = 4, 1, 12, 2, 5
	two := []NodeDevices{{Name: "a", Free: []int{0}}, {Name: "b", Free: []int{0, 1}}}
	for _, c := range []struct {
		name    string
		edit    func(*jobspec.Spec, *coord.Job)
		free    []NodeDevices
		wantDP  int
		wantWhy string
	}{
		{"three devices on two nodes: DP 3", nil, two, 3, ""},
		{"no --min-nodes: wait", func(s *jobspec.Spec, _ *coord.Job) { s.MinNodes = 0 }, two, 0, ""},
		{"inside the grace", func(s *jobspec.Spec, _ *coord.Job) { s.NodeGrace = 60 }, two, 0, "in 50s"},
		{"DP 3 does not divide 8: DP 2", func(s *jobspec.Spec, _ *coord.Job) { s.GlobalBatch = 8 }, two, 2, ""},
		{"one node left, --min-nodes 2", nil, []NodeDevices{{Name: "b", Free: []int{0, 1, 2}}}, 0, "fewer than --min-nodes 2"},
		{"pending jobs are not shrunk", func(_ *jobspec.Spec, j *coord.Job) { j.State = coord.JobPending }, two, 0, ""},
		{"nothing free", nil, nil, 0, "no smaller data-parallel size"},
	} {
		t.Run(c.name, func(t *testing.T) {
			s, j := spec, *job
			if c.edit != nil {
				c.edit(&s, &j)
			}
			p, why := shrink(&j, &s, c.free, now)
			if c.wantDP == 0 {
				if p != nil || !strings.Contains(why, c.wantWhy) {
					t.Fatalf("plan %+v, why %q; want none and %q", p, why, c.wantWhy)
				}
				return
			}
			if p == nil || p.DP != c.wantDP || why != "" {
				t.Fatalf("plan %+v, why %q; want DP %d", p, why, c.wantDP)
			}
			if err := p.Validate(); err != nil {
				t.Fatal(err)
			}
		})
	}
}
