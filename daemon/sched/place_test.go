package sched

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"bloom/daemon/coord"
	"bloom/daemon/jobspec"
	"bloom/trainer"
)

func nodes(free ...int) []NodeDevices {
	var out []NodeDevices
	for i, n := range free {
		nd := NodeDevices{Name: fmt.Sprintf("n%d", i+1)}
		for d := range n {
			nd.Free = append(nd.Free, d)
		}
		out = append(out, nd)
	}
	return out
}

// layout writes a plan as "node:device" per rank, in rank order.
func layout(p coord.Plan) string {
	s := make([]string, len(p.Ranks))
	for i, r := range p.Ranks {
		if r.Rank != i {
			return fmt.Sprintf("rank %d at position %d", r.Rank, i)
		}
		s[i] = fmt.Sprintf("%s:%d", r.Node, r.Device)
	}
	return strings.Join(s, " ")
}

func TestPlace(t *testing.T) {
	tests := []struct {
		name       string
		nodes      []NodeDevices
		tp, pp, dp int
		want       string
	}{
		{"single", nodes(2, 2, 2), 1, 1, 1, "n1:0"},
		{"demo (1,2,3): stage 0 ranks 0-2, stage 1 ranks 3-5", nodes(2, 2, 2), 1, 2, 3, "n1:0 n1:1 n2:0 n2:1 n3:0 n3:1"},
		{"TP inside a node, PP across", nodes(4, 4), 2, 2, 2, "n1:0 n1:1 n1:2 n1:3 n2:0 n2:1 n2:2 n2:3"},
		{"TP group never split", nodes(3, 3), 2, 1, 2, "n1:0 n1:1 n2:0 n2:1"},
		{"(2,2,2) on 3×2", nodes(2, 2, 2, 2), 2, 2, 2, "n1:0 n1:1 n2:0 n2:1 n3:0 n3:1 n4:0 n4:1"},
		{"skips full nodes", []NodeDevices{{Name: "a"}, {Name: "b", Free: []int{1, 3}}}, 2, 1, 1, "b:1 b:3"},
		{"8 per node, TP 8", nodes(8, 8), 8, 2, 1, "n1:0 n1:1 n1:2 n1:3 n1:4 n1:5 n1:6 n1:7 n2:0 n2:1 n2:2 n2:3 n2:4 n2:5 n2:6 n2:7"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := Place(tc.nodes, tc.tp, tc.pp, tc.dp)
			if err != nil {
				t.Fatal(err)
			}
			if got := layout(p); got != tc.want {
				t.Errorf("got  %s\nwant %s", got, tc.want)
			}
			if err := p.Validate(); err != nil {
				t.Error(err)
			}
			// Megatron order: every TP group on one node, coordinates invert.
			l := trainer.Layout{TP: tc.tp, PP: tc.pp, DP: tc.dp}
			for _, r := range p.Ranks {
				c := l.Coords(r.Rank)
				if l.Rank(c) != r.Rank || c.PP >= tc.pp {
					t.Errorf("rank %d coords %+v", r.Rank, c)
				}
				if first := p.Ranks[r.Rank-c.TP]; first.Node != r.Node {
					t.Errorf("rank %d (tp %d) on %s, its TP group starts on %s", r.Rank, c.TP, r.Node, first.Node)
				}
			}
		})
	}
}

func TestPlaceErrors(t *testing.T) {
	tests := []struct {
		name       string
		nodes      []NodeDevices
		tp, pp, dp int
		want       string
	}{
		{"tp bigger than a node", nodes(2, 2, 2), 4, 1, 1, "needs 4 free devices on one node"},
		{"too many ranks", nodes(2, 2, 2), 1, 2, 4, "= 8 ranks, but only 6 tensor-parallel groups of 1 fit"},
		{"fragmented", nodes(3, 3), 2, 1, 3, "only 2 tensor-parallel groups of 2 fit"},
		{"no nodes", nil, 1, 1, 1, "no nodes with free devices"},
		{"bad sizes", nodes(2), 0, 1, 1, "must all be ≥ 1"},
	}
	for _, tc := range tests {
		_, err := Place(tc.nodes, tc.tp, tc.pp, tc.dp)
		if !errors.Is(err, jobspec.ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
	}
}

func TestFreeDevices(t *testing.T) {
	st := coord.NewState()
	st.Members["n1"] = &coord.Member{Name: "n1", Devices: "cpu:2"}
	st.Members["n2"] = &coord.Member{Name: "n2", Devices: "npu:4-6;cpu:1"}
	st.Members["n3"] = &coord.Member{Name: "n3", Devices: "cpu:2"}
	st.Jobs["j"] = &coord.Job{ID: "j", State: coord.JobRunning, Plan: &coord.Plan{TP: 1, PP: 1, DP: 1, Ranks: []coord.Rank{{Rank: 0, Node: "n1", Device: 1}}}}
	st.Jobs["k"] = &coord.Job{ID: "k", State: coord.JobFailed, Plan: &coord.Plan{TP: 1, PP: 1, DP: 1, Ranks: []coord.Rank{{Rank: 0, Node: "n1", Device: 0}}}}
	alive := func(n string) bool { return n != "n3" }
	got := FreeDevices(st, alive)
	if fmt.Sprint(got) != "[{n1 [0]} {n2 [0 1 2 3]}]" {
		t.Errorf("free %v", got)
	}
	if n := TotalDevices(st, alive); n != 6 {
		t.Errorf("total %d", n)
	}
	for pos, want := range []string{"npu:4", "npu:5", "npu:6", "cpu:0"} {
		k, i, err := DeviceAt("npu:4-6;cpu:1", pos)
		if err != nil || fmt.Sprintf("%s:%d", k, i) != want {
			t.Errorf("DeviceAt %d: %s:%d %v, want %s", pos, k, i, err, want)
		}
	}
	if _, _, err := DeviceAt("cpu:1", 1); err == nil {
		t.Error("device past the list accepted")
	}
}

// TestLostNode: a new leader fails an attempt at once for a node its gossip
// found dead or that left, and for a node its gossip has never heard of only
// once LeaderGrace is over.
func TestLostNode(t *testing.T) {
	ranks := []coord.Rank{{Rank: 0, Node: "n1"}, {Rank: 1, Node: "n2"}}
	alive := map[string]bool{"n1": true}
	for _, c := range []struct {
		state string
		grace bool
		want  string
	}{
		{"dead", true, "node n2 (rank 1) is dead"},
		{"left", true, "node n2 (rank 1) is left"},
		{"dead", false, "node n2 (rank 1) is dead"},
		{"", true, ""},
		{"", false, "node n2 (rank 1) is gone"},
	} {
		members := []Member{{Name: "n1", State: "alive"}}
		if c.state != "" {
			members = append(members, Member{Name: "n2", State: c.state})
		}
		if got := lostNode(ranks, alive, members, c.grace); got != c.want {
			t.Errorf("n2 %q, grace %v: %q, want %q", c.state, c.grace, got, c.want)
		}
	}
	if got := lostNode(ranks, map[string]bool{"n1": true, "n2": true}, nil, false); got != "" {
		t.Errorf("both alive: %q", got)
	}
}
