package daemon

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/hashicorp/raft"

	"bloom/membership"
)

// maybeBootstrap bootstraps Raft once, Consul's bootstrap_expect made safe
// against differing views: the first BootstrapExpect alive servers by name
// (none with Raft state or a cluster id) form the proposal; each of them
// gossips the proposal's hash, and bootstraps only when every member of the
// proposal gossips the same hash. Everyone else waits to be added by the
// leader. A data dir with Raft state never bootstraps again.
func (d *Daemon) maybeBootstrap() {
	if d.cfg.BootstrapExpect == 0 || d.raft.hasState || d.raft.LastIndex() > 0 {
		d.bootstrapped = true
		return
	}
	set, ok := d.proposal()
	meta := d.ml.Meta()
	if !ok {
		if meta.Boot != "" {
			d.ml.UpdateMeta(func(m *membership.NodeMeta) { m.Boot = "" }, time.Second)
		}
		return
	}
	h := proposalHash(d.cfg.BootstrapExpect, set)
	if meta.Boot != h {
		d.announced = time.Now()
		if err := d.ml.UpdateMeta(func(m *membership.NodeMeta) { m.Boot = h }, time.Second); err != nil {
			d.log.Warn("gossip bootstrap proposal", "err", err)
		}
		return
	}
	var conf raft.Configuration
	for _, m := range set {
		if m.Meta.Boot != h {
			// Not everyone agrees yet. A proposal's broadcast can be lost
			// (seen on a loaded machine: neither of two nodes bootstrapped
			// until the push/pull sync 20 s later), so it is gossiped again
			// every reannounce while the others disagree.
			if time.Since(d.announced) >= reannounce {
				d.announced = time.Now()
				if err := d.ml.Announce(100 * time.Millisecond); err != nil {
					d.log.Debug("gossip bootstrap proposal again", "err", err)
				}
			}
			return
		}
		conf.Servers = append(conf.Servers, raft.Server{Suffrage: raft.Voter, ID: raft.ServerID(m.Name), Address: raft.ServerAddress(m.Meta.Raft)})
	}
	err := d.raft.BootstrapCluster(conf).Error()
	if err != nil && !errors.Is(err, raft.ErrCantBootstrap) {
		d.log.Error("raft bootstrap failed", "err", err)
		return
	}
	d.bootstrapped = true
	id := "c" + h[:15]
	d.mu.Lock()
	err = d.dir.setCluster(id)
	d.mu.Unlock()
	if err != nil {
		d.log.Error("record cluster id", "err", err)
	}
	d.ml.UpdateMeta(func(m *membership.NodeMeta) { m.Boot, m.Cluster, m.State = "", id, true }, time.Second)
	d.log.Info("raft bootstrapped", "cluster", id, "servers", names(set))
}

// reannounce is how often a node gossips its bootstrap proposal again while
// the others have not gossiped the same one.
const reannounce = 2 * time.Second

// proposal returns the first BootstrapExpect alive members by name when this
// node is among them and no cluster exists yet.
func (d *Daemon) proposal() ([]membership.Member, bool) {
	var alive []membership.Member
	for _, m := range d.ml.Members() { // sorted by name
		if m.State != membership.StateAlive {
			continue
		}
		if m.Meta.Cluster != "" || m.Meta.State {
			return nil, false // a cluster exists: wait to be added
		}
		alive = append(alive, m)
	}
	if len(alive) < d.cfg.BootstrapExpect {
		return nil, false
	}
	set := alive[:d.cfg.BootstrapExpect]
	for _, m := range set {
		if m.Name == d.cfg.Name {
			return set, true
		}
	}
	return nil, false
}

func proposalHash(expect int, set []membership.Member) string {
	h := sha256.New()
	fmt.Fprintf(h, "bloom bootstrap v1 %d\n", expect)
	for _, m := range set {
		fmt.Fprintf(h, "%s %s %s\n", m.Name, m.Meta.Raft, m.Meta.Nonce)
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}

func names(ms []membership.Member) string {
	var s []string
	for _, m := range ms {
		s = append(s, m.Name)
	}
	return strings.Join(s, ",")
}
