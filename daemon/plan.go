package daemon

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
// (trainer.Layout, the one home of that numbering), ranks filled onto nodes in order, each node's devices in order. A
// tensor-parallel group (TP consecutive ranks) is never split across nodes:
// TP stays inside a node; the data-parallel replicas of a stage fill the
// node next, and pipeline stages land on later nodes. Nodes are taken in
// the order given (the caller sorts them). Place is pure.
func Place(nodes []NodeDevices, tp, pp, dp int) (coord.Plan, error) {
	if tp < 1 || pp < 1 || dp < 1 {
		return coord.Plan{}, fmt.Errorf("%w: TP %d, PP %d, DP %d must all be ≥ 1", jobspec.ErrInvalid, tp, pp, dp)
	}
	n := tp * pp * dp
	plan := coord.Plan{TP: tp, PP: pp, DP: dp, Ranks: make([]coord.Rank, 0, n)}
	node, used := 0, 0
	for group := 0; group < n/tp; group++ {
		for node < len(nodes) && len(nodes[node].Free)-used < tp {
			node, used = node+1, 0
		}
		if node == len(nodes) {
			return coord.Plan{}, placeError(nodes, tp, pp, dp)
		}
		for k := range tp {
			plan.Ranks = append(plan.Ranks, coord.Rank{Rank: group*tp + k, Node: nodes[node].Name, Device: nodes[node].Free[used+k]})
		}
		used += tp
	}
	return plan, nil
}

// placeError says why a layout does not fit and what to change.
func placeError(nodes []NodeDevices, tp, pp, dp int) error {
	total, biggest, fits := 0, 0, 0
	var have []string
	for _, nd := range nodes {
		total += len(nd.Free)
		biggest = max(biggest, len(nd.Free))
		fits += len(nd.Free) / tp
		have = append(have, fmt.Sprintf("%s: %d", nd.Name, len(nd.Free)))
	}
	desc := "no nodes with free devices"
	if len(have) > 0 {
		desc = "free devices " + strings.Join(have, ", ")
	}
	if tp > biggest {
		return fmt.Errorf("%w: --tensor-model-parallel-size %d needs %d free devices on one node (TP stays inside a node), the most any node has is %d (%s): lower TP or free a bigger node",
			jobspec.ErrInvalid, tp, tp, biggest, desc)
	}
	need := tp * pp * dp
	return fmt.Errorf("%w: TP %d × PP %d × DP %d = %d ranks, but only %d tensor-parallel groups of %d fit (%s, %d in all): lower --data-parallel-size or --pipeline-model-parallel-size, or wait for devices",
		jobspec.ErrInvalid, tp, pp, dp, need, fits, tp, desc, total)
}

// freeDevices lists, for each member alive per alive, the devices no
// running job uses; nodes sorted by name. A device is its position in the
// node's --devices list (deviceAt turns it back into kind and index).
func freeDevices(st *coord.State, alive func(string) bool) []NodeDevices {
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
		if !alive(name) {
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

// totalDevices counts every device of the given nodes, busy or not.
func totalDevices(st *coord.State, alive func(string) bool) int {
	n := 0
	for name, m := range st.Members {
		if !alive(name) {
			continue
		}
		devs, _ := ParseDevices(m.Devices)
		n += deviceCount(devs)
	}
	return n
}

func deviceCount(devs []Device) int {
	n := 0
	for _, d := range devs {
		n += len(d.Indices)
	}
	return n
}

// deviceAt is the kind and index of the device at position pos of a
// node's --devices list.
func deviceAt(devices string, pos int) (kind string, index int, err error) {
	devs, err := ParseDevices(devices)
	if err != nil {
		return "", 0, err
	}
	for _, d := range devs {
		if pos < len(d.Indices) {
			return d.Kind, d.Indices[pos], nil
		}
		pos -= len(d.Indices)
	}
	return "", 0, fmt.Errorf("daemon: device %d is not in --devices %q", pos, devices)
}
