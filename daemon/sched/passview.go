package sched

import (
	"sort"
	"strings"

	"bloom/daemon/coord"
)

// passView is what a pass derives from its inputs once rather than once
// per job: with 1,000 members and 100 jobs, the per-job versions (every
// member's nonce for each running job, every node's free devices for each
// pending job) made a pass grow with members × jobs (scripts/scalesim).
type passView struct {
	alive, usable map[string]bool
	instances     map[string]string // live member → its bloomd's process nonce
	free          []NodeDevices     // FreeDevices of the usable nodes, valid while freeOK
	freeOK        bool
	joining       string // alive members not registered yet, sorted; valid while joiningOK
	joiningOK     bool
}

func newPassView(g Gossip, alive, usable map[string]bool) *passView {
	v := &passView{alive: alive, usable: usable, instances: make(map[string]string, len(g.Members))}
	for _, m := range g.Members {
		if m.Live() {
			v.instances[m.Name] = m.Instance
		}
	}
	return v
}

// freeDevices is FreeDevices(st) for the usable nodes. The caller must not
// change the result; placed invalidates it.
func (v *passView) freeDevices(st *coord.State) []NodeDevices {
	if !v.freeOK {
		v.free, v.freeOK = FreeDevices(st, func(n string) bool { return v.usable[n] }), true
	}
	return v.free
}

// placed says the pass applied commands to its state: devices were taken
// (or freed), so the free devices are read again.
func (v *passView) placed() { v.freeOK = false }

// joiningNames lists, comma-separated, the alive members st has not
// registered yet (st's members change only through Raft, not in a pass).
func (v *passView) joiningNames(st *coord.State) string {
	if !v.joiningOK {
		var joining []string
		for name, ok := range v.alive {
			if _, registered := st.Members[name]; ok && !registered {
				joining = append(joining, name)
			}
		}
		sort.Strings(joining)
		v.joining, v.joiningOK = strings.Join(joining, ", "), true
	}
	return v.joining
}
