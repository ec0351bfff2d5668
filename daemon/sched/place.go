package sched

import (
	"fmt"
	"strings"

	"bloom/daemon/coord"
	"bloom/daemon/jobspec"
)

// NodeDevices is what the planner knows of one node: its name and the
// device indices free for a new job, in order.
type NodeDevices struct {
	Name string
	Free []int
}

// Place assigns every rank of a TP×PP×DP job to a node and device, as
// Megatron and torchrun lay ranks out: rank = pp·(DP·TP) + dp·TP + tp
// (trainer.Layout, the one home of that numbering), ranks filled onto
// nodes in order, each node's devices in order. A
// tensor-parallel group (TP consecutive ranks) is never split across nodes:
// TP stays inside a node; the data-parallel replicas of a stage fill the
// node next, and pipeline stages land on later nodes. Nodes are taken in
// the order given (the caller sorts them). The error keeps nodes, which
// the caller must not change while it holds the error.
func Place(nodes []NodeDevices, tp, pp, dp int) (coord.Plan, error) {
	if tp < 1 || pp < 1 || dp < 1 {
		return coord.Plan{}, fmt.Errorf("%w: TP %d, PP %d, DP %d must all be ≥ 1", jobspec.ErrInvalid, tp, pp, dp)
	}
	n := tp * pp * dp
	groups := 0 // each node takes whole TP groups, in order: count them first
	for _, nd := range nodes {
		groups += len(nd.Free) / tp
	}
	if groups < n/tp {
		return coord.Plan{}, &placeError{nodes: nodes, tp: tp, pp: pp, dp: dp}
	}
	plan := coord.Plan{TP: tp, PP: pp, DP: dp, Ranks: make([]coord.Rank, 0, n)}
	node, used := 0, 0
	for group := 0; group < n/tp; group++ {
		for node < len(nodes) && len(nodes[node].Free)-used < tp {
			node, used = node+1, 0
		}
		if node == len(nodes) {
			return coord.Plan{}, &placeError{nodes: nodes, tp: tp, pp: pp, dp: dp}
		}
		for k := range tp {
			plan.Ranks = append(plan.Ranks, coord.Rank{Rank: group*tp + k, Node: nodes[node].Name, Device: nodes[node].Free[used+k]})
		}
		used += tp
	}
	return plan, nil
}

// placeError says why a layout does not fit and what to change. Its text
// names every node's free devices, so it is written only when read: a
// pass tries every waiting job (and a shrink every smaller size) and
// reads none of them.
type placeError struct {
	nodes      []NodeDevices
	tp, pp, dp int
}

func (e *placeError) Unwrap() error { return jobspec.ErrInvalid }

func (e *placeError) Error() string {
	total, biggest, fits := 0, 0, 0
	var have []string
	for _, nd := range e.nodes {
		total += len(nd.Free)
		biggest = max(biggest, len(nd.Free))
		fits += len(nd.Free) / e.tp
		have = append(have, fmt.Sprintf("%s: %d", nd.Name, len(nd.Free)))
	}
	desc := "no nodes with free devices"
	if len(have) > 0 {
		desc = "free devices " + strings.Join(have, ", ")
	}
	if e.tp > biggest {
		return fmt.Sprintf("%v: --tensor-model-parallel-size %d needs %d free devices on one node (TP stays inside a node), the most any node has is %d (%s): lower TP or free a bigger node",
			jobspec.ErrInvalid, e.tp, e.tp, biggest, desc)
	}
	need := e.tp * e.pp * e.dp
	return fmt.Sprintf("%v: TP %d × PP %d × DP %d = %d ranks, but only %d tensor-parallel groups of %d fit (%s, %d in all): lower --data-parallel-size or --pipeline-model-parallel-size, or wait for devices",
		jobspec.ErrInvalid, e.tp, e.pp, e.dp, need, fits, e.tp, desc, total)
}

// FreeDevices lists, for each member that ok accepts, the devices no
// running job uses; nodes sorted by name. A device is its position in the
// node's --devices list (DeviceAt turns it back into kind and index).
func FreeDevices(st *coord.State, ok func(node string) bool) []NodeDevices {
	busy := map[string]map[int]bool{}
	for _, j := range st.Jobs {
		if j.State != coord.JobRunning || j.Plan == nil {
			continue
		}
		for _, r := range j.Plan.Ranks {
			if busy[r.Node] == nil {
				busy[r.Node] = map[int]bool{}
			}
			busy[r.Node][r.Device] = true
		}
	}
	var out []NodeDevices
	for _, name := range st.MemberNames() {
		m := st.Members[name]
		if !ok(name) {
			continue
		}
		devs, err := ParseDevices(m.Devices)
		if err != nil {
			continue
		}
		nd := NodeDevices{Name: name}
		for pos := range deviceCount(devs) {
			if !busy[name][pos] {
				nd.Free = append(nd.Free, pos)
			}
		}
		out = append(out, nd)
	}
	return out
}

// TotalDevices counts every device of the members ok accepts, busy or not.
func TotalDevices(st *coord.State, ok func(node string) bool) int {
	n := 0
	for name, m := range st.Members {
		if !ok(name) {
			continue
		}
		devs, _ := ParseDevices(m.Devices)
		n += deviceCount(devs)
	}
	return n
}

// planNodes counts the nodes a plan uses.
func planNodes(p *coord.Plan) int {
	seen := map[string]bool{}
	for _, r := range p.Ranks {
		seen[r.Node] = true
	}
	return len(seen)
}
