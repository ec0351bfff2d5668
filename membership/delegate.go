package membership

import (
	"fmt"
	"time"

	"github.com/hashicorp/memberlist"
)

// delegate serves this node's metadata; bloom sends no user messages over gossip.
type delegate Membership

func (d *delegate) NodeMeta(limit int) []byte {
	m := (*Membership)(d)
	m.mu.Lock()
	meta := m.meta
	m.mu.Unlock()
	b, err := meta.encode()
	if err != nil || len(b) > limit {
		return nil // SetMeta and Validate refuse oversize metadata, so this is unreachable
	}
	return b
}

func (d *delegate) NotifyMsg([]byte)                           {}
func (d *delegate) GetBroadcasts(overhead, limit int) [][]byte { return nil }
func (d *delegate) LocalState(join bool) []byte                { return nil }
func (d *delegate) MergeRemoteState(buf []byte, join bool)     {}

// events tracks members and asks Accept about newcomers.
type events Membership

func (e *events) NotifyJoin(n *memberlist.Node)   { e.update(n, StateAlive) }
func (e *events) NotifyUpdate(n *memberlist.Node) { e.update(n, StateAlive) }

// NotifyLeave is called for dead and left nodes alike; a node that leaves
// says so in its metadata first (Membership.Leave).
func (e *events) NotifyLeave(n *memberlist.Node) {
	st := StateDead
	if meta, err := DecodeMeta(n.Meta); err == nil && meta.Leaving {
		st = StateLeft
	}
	e.update(n, st)
}

func (e *events) update(n *memberlist.Node, st State) {
	m := (*Membership)(e)
	m.mu.Lock()
	delete(m.suspects, n.Name)
	m.record(n, st, time.Now())
	m.mu.Unlock()
	m.signal()
}

// AckPayload and NotifyPingComplete make a member that answers a probe no
// longer suspect.
func (e *events) AckPayload() []byte { return nil }
func (e *events) NotifyPingComplete(other *memberlist.Node, rtt time.Duration, payload []byte) {
	(*Membership)(e).clearSuspect(other.Name)
}

// NotifyAlive keeps out nodes whose metadata Accept refuses.
func (e *events) NotifyAlive(n *memberlist.Node) error {
	return e.accept(n)
}

// NotifyMerge cancels a join or push/pull with a cluster Accept refuses.
func (e *events) NotifyMerge(peers []*memberlist.Node) error {
	for _, n := range peers {
		if err := e.accept(n); err != nil {
			return err
		}
	}
	return nil
}

func (e *events) accept(n *memberlist.Node) error {
	m := (*Membership)(e)
	if m.cfg.Accept == nil || n.Name == m.cfg.Name {
		return nil
	}
	meta, err := DecodeMeta(n.Meta)
	if err != nil {
		return fmt.Errorf("%w: %s: %v", ErrRejected, n.Name, err)
	}
	if meta.Name == "" {
		meta.Name = n.Name
	}
	if err := m.cfg.Accept(meta); err != nil {
		return fmt.Errorf("%w: %s: %v", ErrRejected, n.Name, err)
	}
	return nil
}
