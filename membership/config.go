package membership

import (
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// Config configures one node's gossip. Flags override fields; Validate
// checks the result.
type Config struct {
	// Name is the node's unique name in the cluster.
	Name string
	// BindAddr and BindPort are where gossip listens (UDP and TCP on one
	// port); port 0 picks a free one.
	BindAddr string
	BindPort int
	// AdvertiseAddr and AdvertisePort are what peers dial, when the bind
	// address is not reachable as is (0.0.0.0, NAT). Empty: the bind address.
	AdvertiseAddr string
	AdvertisePort int
	// Key is the 32-byte AES-256 gossip key, derived from the cluster secret.
	Key []byte
	// Meta is what this node advertises; SetMeta changes it later.
	Meta NodeMeta
	// Accept, when set, is asked about every peer's metadata; an error keeps
	// the peer out (different cluster id, incompatible version). It must be
	// quick and must not call back into Membership.
	Accept func(peer NodeMeta) error

	// Failure-detector timings (memberlist's SWIM + Lifeguard); see DefaultConfig.
	ProbeInterval           time.Duration
	ProbeTimeout            time.Duration
	SuspicionMult           int
	SuspicionMaxTimeoutMult int
	IndirectChecks          int
	GossipInterval          time.Duration
	GossipNodes             int
	RetransmitMult          int
	PushPullInterval        time.Duration
	TCPTimeout              time.Duration
	GossipToTheDeadTime     time.Duration
	// DeadNodeReclaimTime is how long after a node is dead its name may be
	// taken by another address (a node restarted on a new port).
	DeadNodeReclaimTime time.Duration
	// ReapAfter is how long dead and left members stay in Members().
	ReapAfter time.Duration

	// Logger receives memberlist's log lines at their levels; nil discards them.
	Logger *slog.Logger
}

// DefaultConfig returns timings tuned for a LAN of about 12 nodes, so that a
// dead node is declared within ~6 s (memberlist's own LAN defaults take ~5–7 s
// typically and up to ~27 s; DESIGN.md §4 wants ~6).
//
// The arithmetic, with memberlist's formulas (util.go suspicionTimeout,
// suspicion.go) and n = 12:
//
//   - Each live node probes one peer per ProbeInterval (500 ms), walking a
//     shuffled list, so the 11 survivors probe the dead node about once per
//     interval between them: first failed probe ≈ 0.5–1 s after the crash
//     (ProbeTimeout 200 ms direct, then IndirectChecks=3 indirect pings and a
//     TCP fallback until the interval ends), and the node is suspect.
//   - Suspicion lasts between min = SuspicionMult·max(1, log10 n)·ProbeInterval
//     = 4 × 1.08 × 0.5 s = 2.2 s and max = SuspicionMaxTimeoutMult·min = 6.5 s;
//     it shrinks from max toward min as k = SuspicionMult−2 = 2 independent
//     confirmations arrive from other probers (one confirmation: 3.8 s).
//   - Typical detection: ≈ 1 s to suspect + 2.2–3.8 s ≈ 3–5 s; worst case
//     with no confirmation ≈ 1 + 6.5 ≈ 7.5 s. Lifeguard's awareness may
//     stretch the probe interval on a node that is itself overloaded, which
//     trades detection time for fewer false positives.
//
// Gossip every 100 ms to 3 nodes spreads a state change to 12 nodes in a few
// hundred milliseconds; each broadcast is retransmitted RetransmitMult ×
// ceil(log10(n+1)) = 8 times.
func DefaultConfig() Config {
	return Config{
		BindAddr:                "0.0.0.0",
		BindPort:                7946,
		ProbeInterval:           500 * time.Millisecond,
		ProbeTimeout:            200 * time.Millisecond,
		SuspicionMult:           4,
		SuspicionMaxTimeoutMult: 3,
		IndirectChecks:          3,
		GossipInterval:          100 * time.Millisecond,
		GossipNodes:             3,
		RetransmitMult:          4,
		PushPullInterval:        15 * time.Second,
		TCPTimeout:              5 * time.Second,
		GossipToTheDeadTime:     15 * time.Second,
		DeadNodeReclaimTime:     10 * time.Second,
		ReapAfter:               time.Hour,
	}
}

// Validate checks the configuration and says what to fix.
func (c *Config) Validate() error {
	var errs []error
	if c.Name == "" {
		errs = append(errs, errors.New("membership: Name is empty: every node needs a unique name"))
	}
	if c.BindPort < 0 || c.BindPort > 65535 || c.AdvertisePort < 0 || c.AdvertisePort > 65535 {
		errs = append(errs, fmt.Errorf("membership: ports %d/%d out of range", c.BindPort, c.AdvertisePort))
	}
	if len(c.Key) != 32 {
		errs = append(errs, fmt.Errorf("membership: Key is %d bytes, want 32 (derive it from the cluster secret)", len(c.Key)))
	}
	if c.ProbeTimeout <= 0 || c.ProbeInterval <= c.ProbeTimeout {
		errs = append(errs, fmt.Errorf("membership: want 0 < ProbeTimeout (%v) < ProbeInterval (%v)", c.ProbeTimeout, c.ProbeInterval))
	}
	if c.SuspicionMult < 1 || c.SuspicionMaxTimeoutMult < 1 || c.GossipNodes < 1 || c.RetransmitMult < 1 {
		errs = append(errs, errors.New("membership: SuspicionMult, SuspicionMaxTimeoutMult, GossipNodes and RetransmitMult must be ≥ 1"))
	}
	if c.GossipInterval <= 0 || c.TCPTimeout <= 0 {
		errs = append(errs, errors.New("membership: GossipInterval and TCPTimeout must be > 0"))
	}
	if _, err := c.Meta.encode(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}
