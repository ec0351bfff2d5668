package membership

import (
	"errors"
	"fmt"
	"log"
	"net"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/memberlist"
)

// State is a member's gossip state.
type State string

// The states memberlist distinguishes.
const (
	StateAlive   State = "alive"
	StateSuspect State = "suspect"
	StateDead    State = "dead"
	StateLeft    State = "left"
)

// Member is one node as this node sees it.
type Member struct {
	Name  string
	Addr  string // gossip address, host:port
	State State
	Meta  NodeMeta
	// Since is when this node last saw the member change state.
	Since time.Time
}

// Membership is one node's view of the cluster. Its methods are safe for
// concurrent use.
type Membership struct {
	cfg     Config
	ml      *memberlist.Memberlist
	changed chan struct{}
	down    atomic.Bool // Shutdown was called

	mu        sync.Mutex
	meta      NodeMeta
	members   map[string]*Member   // every member seen, including dead and left
	suspects  map[string]time.Time // live members whose last probe from here failed
	localAddr string
}

// New starts gossip on the configured address. The node is alone until Join.
func New(cfg Config) (*Membership, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	m := &Membership{cfg: cfg, changed: make(chan struct{}, 1), meta: cfg.Meta, members: map[string]*Member{}, suspects: map[string]time.Time{}}
	if m.meta.Name == "" {
		m.meta.Name = cfg.Name
	}
	ml, err := memberlist.Create(m.memberlistConfig())
	if err != nil {
		return nil, fmt.Errorf("membership: listen on %s: %w (is the port in use by another bloomd?)",
			net.JoinHostPort(cfg.BindAddr, strconv.Itoa(cfg.BindPort)), err)
	}
	m.ml = ml
	// The local node's address, read once now: memberlist rewrites its
	// node in place under its own lock on every metadata update, so later
	// reads of it race, and it calls our delegate while holding that lock.
	n := ml.LocalNode()
	m.localAddr = net.JoinHostPort(n.Addr.String(), strconv.Itoa(int(n.Port)))
	return m, nil
}

func (m *Membership) memberlistConfig() *memberlist.Config {
	c := memberlist.DefaultLANConfig()
	cfg := m.cfg
	c.Name = cfg.Name
	c.BindAddr, c.BindPort = cfg.BindAddr, cfg.BindPort
	c.AdvertiseAddr, c.AdvertisePort = cfg.AdvertiseAddr, cfg.AdvertisePort
	c.SecretKey = cfg.Key
	c.GossipVerifyIncoming, c.GossipVerifyOutgoing = true, true
	c.ProbeInterval, c.ProbeTimeout = cfg.ProbeInterval, cfg.ProbeTimeout
	c.SuspicionMult, c.SuspicionMaxTimeoutMult = cfg.SuspicionMult, cfg.SuspicionMaxTimeoutMult
	c.IndirectChecks = cfg.IndirectChecks
	c.GossipInterval, c.GossipNodes, c.RetransmitMult = cfg.GossipInterval, cfg.GossipNodes, cfg.RetransmitMult
	c.PushPullInterval, c.TCPTimeout = cfg.PushPullInterval, cfg.TCPTimeout
	c.GossipToTheDeadTime, c.DeadNodeReclaimTime = cfg.GossipToTheDeadTime, cfg.DeadNodeReclaimTime
	c.Delegate = (*delegate)(m)
	c.Events = (*events)(m)
	c.Alive = (*events)(m)
	c.Merge = (*events)(m)
	c.LogOutput = nil
	c.Ping = (*events)(m)
	c.Logger = log.New(&logWriter{l: cfg.Logger, suspect: m.suspect}, "", 0)
	return c
}

// Join contacts the given peers (host:port) and merges their view; it
// succeeds when at least one answers, and returns how many did.
func (m *Membership) Join(peers []string) (int, error) {
	if len(peers) == 0 {
		return 0, nil
	}
	n, err := m.ml.Join(peers)
	if n == 0 && err != nil {
		flat := strings.Join(strings.Fields(err.Error()), " ")
		if strings.Contains(flat, ErrRejected.Error()) {
			// memberlist flattens the cause to text; keep it matchable.
			return 0, fmt.Errorf("%w: %w: %s", ErrJoin, ErrRejected, flat)
		}
		return 0, fmt.Errorf("%w: no peer of %v answered: %s (are they running, reachable, and using the same cluster secret?)", ErrJoin, peers, flat)
	}
	return n, nil
}

// Changed is signalled (without blocking; one pending signal at most) after
// any member joins, changes metadata, fails or leaves. Read Members then.
func (m *Membership) Changed() <-chan struct{} { return m.changed }

func (m *Membership) signal() {
	select {
	case m.changed <- struct{}{}:
	default:
	}
}

// Members returns every member seen, sorted by name: the live ones with
// memberlist's current state (alive or suspect), then those dead or left
// less than ReapAfter ago.
func (m *Membership) Members() []Member {
	live := m.ml.Members()
	now := time.Now()
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]Member, 0, len(m.members))
	seen := make(map[string]bool, len(live))
	for _, n := range live {
		// Only the name: memberlist goes on writing the node's other
		// fields under its own lock; the events copied them under it.
		mem := m.members[n.Name]
		if mem == nil {
			continue // its join event is on the way
		}
		seen[n.Name] = true
		st := StateAlive
		if _, ok := m.suspects[n.Name]; ok {
			st = StateSuspect
		}
		if mem.State != st {
			mem.State, mem.Since = st, now
		}
		out = append(out, *mem)
	}
	for name, mem := range m.members {
		if seen[name] {
			continue
		}
		if mem.State == StateAlive || mem.State == StateSuspect {
			continue // not yet reported by memberlist's event, or racing it
		}
		if now.Sub(mem.Since) > m.cfg.ReapAfter {
			delete(m.members, name)
			continue
		}
		out = append(out, *mem)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// record updates the tracked member from a memberlist node; m.mu is held,
// and so is memberlist's lock on n (it is called from memberlist's events).
// (memberlist's Node.State is not maintained, so the caller says the state.)
func (m *Membership) record(n *memberlist.Node, st State, now time.Time) *Member {
	mem, ok := m.members[n.Name]
	if !ok {
		mem = &Member{Name: n.Name, Since: now}
		m.members[n.Name] = mem
	}
	if mem.State != st {
		mem.State, mem.Since = st, now
	}
	mem.Addr = net.JoinHostPort(n.Addr.String(), strconv.Itoa(int(n.Port)))
	if meta, err := DecodeMeta(n.Meta); err == nil {
		mem.Meta = meta
	}
	return mem
}

// suspect marks a live member whose probe from this node just failed; it
// stays suspect here until it answers a probe, gossips, or is declared dead.
// memberlist tells nobody about suspicion, so this is what this node's own
// failure detector saw (parsed from its log line).
func (m *Membership) suspect(name string) {
	m.mu.Lock()
	m.suspects[name] = time.Now()
	m.mu.Unlock()
	m.signal()
}

func (m *Membership) clearSuspect(name string) {
	m.mu.Lock()
	_, ok := m.suspects[name]
	delete(m.suspects, name)
	m.mu.Unlock()
	if ok {
		m.signal()
	}
}

// Local returns this node as the others see it.
func (m *Membership) Local() Member {
	m.mu.Lock()
	defer m.mu.Unlock()
	return Member{Name: m.cfg.Name, Addr: m.localAddr, State: StateAlive, Meta: m.meta}
}

// Meta returns this node's current metadata.
func (m *Membership) Meta() NodeMeta {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.meta
}

// SetMeta replaces this node's metadata and gossips it, waiting up to
// timeout for the broadcast to go out.
func (m *Membership) SetMeta(meta NodeMeta, timeout time.Duration) error {
	return m.UpdateMeta(func(cur *NodeMeta) { *cur = meta }, timeout)
}

// UpdateMeta changes this node's metadata with f, atomically with respect
// to other UpdateMeta calls (so two parts of a node that each set their own
// fields lose neither), and gossips it as SetMeta does.
func (m *Membership) UpdateMeta(f func(*NodeMeta), timeout time.Duration) error {
	m.mu.Lock()
	meta := m.meta
	f(&meta)
	if meta.Name == "" {
		meta.Name = m.cfg.Name
	}
	meta, err := meta.fit()
	if err != nil {
		m.mu.Unlock()
		return err
	}
	same := m.meta == meta
	m.meta = meta
	m.mu.Unlock()
	if same {
		return nil
	}
	if err := m.ml.UpdateNode(timeout); err != nil {
		return fmt.Errorf("membership: gossip metadata: %w", err)
	}
	return nil
}

// Announce gossips this node's metadata again (a fresh broadcast, as
// UpdateMeta's), waiting up to timeout for it to go out: for a change
// whose broadcast may have been lost. Only push/pull syncs (every
// PushPullInterval) would carry it otherwise.
func (m *Membership) Announce(timeout time.Duration) error {
	if err := m.ml.UpdateNode(timeout); err != nil {
		return fmt.Errorf("membership: gossip metadata: %w", err)
	}
	return nil
}

// NumAlive counts members alive or suspect, this node included.
func (m *Membership) NumAlive() int { return m.ml.NumMembers() }

// Leave tells the others this node is leaving (state left, not dead) and
// waits up to timeout for the message to spread. Call Shutdown after.
func (m *Membership) Leave(timeout time.Duration) error {
	if m.down.Load() {
		return ErrShutdown
	}
	meta := m.Meta()
	meta.Leaving = true
	if err := m.SetMeta(meta, timeout); err != nil {
		return err
	}
	if err := m.ml.Leave(timeout); err != nil {
		return fmt.Errorf("membership: leave: %w", err)
	}
	return nil
}

// Shutdown stops gossip and every memberlist goroutine. Without Leave first
// the others will declare this node dead.
func (m *Membership) Shutdown() error {
	if m.down.Swap(true) {
		return nil
	}
	if err := m.ml.Shutdown(); err != nil {
		return fmt.Errorf("membership: shutdown: %w", err)
	}
	return nil
}

// Sentinels for errors.Is.
var (
	// ErrRejected wraps Accept's refusals.
	ErrRejected = errors.New("membership: peer rejected")
	// ErrJoin is returned when no peer could be joined.
	ErrJoin = errors.New("membership: join failed")
	// ErrShutdown is returned by Leave after Shutdown.
	ErrShutdown = errors.New("membership: shut down")
)

func (m Member) port() int {
	_, p, _ := net.SplitHostPort(m.Addr)
	n, _ := strconv.Atoi(p)
	return n
}
