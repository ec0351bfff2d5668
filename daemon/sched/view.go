package sched

// Gossip is one snapshot of gossip's view of the cluster, as the
// scheduler reads it: who is alive, who drains, which process each node
// runs. The daemon builds it from membership; tests write it by hand.
type Gossip struct {
	Self         string   // this node: always alive
	SelfDraining bool     // this node's own metadata says it drains
	Members      []Member // every node gossip knows, this one included or not
}

// Member is one node as gossip sees it.
type Member struct {
	Name string
	// State is gossip's: "alive", "suspect", "dead" or "left".
	State    string
	Draining bool   // its gossip metadata says it drains
	Instance string // its bloomd's process nonce
}

// Live reports whether gossip counts the member in: alive or suspect.
func (m Member) Live() bool { return m.State == "alive" || m.State == "suspect" }

// Alive is who is alive or suspect (not dead, not left); Self is alive.
func (g Gossip) Alive() map[string]bool {
	alive := map[string]bool{g.Self: true}
	for _, m := range g.Members {
		alive[m.Name] = m.Live()
	}
	return alive
}
