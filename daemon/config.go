package daemon

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"time"

	"bloom/daemon/coord"
	"bloom/daemon/identity"
	"bloom/daemon/sched"
	"bloom/membership"
)

// Config is one bloomd's configuration. Flags override DefaultConfig's
// fields; Validate checks the result.
type Config struct {
	// Name is the node's unique, stable name; the data dir remembers it.
	Name string
	// DataDir holds the Raft log, snapshots and node.json.
	DataDir string
	// Bind is the gossip address (UDP and TCP); port 0 picks one.
	Bind string
	// Advertise is the gossip address peers dial, when Bind is not
	// reachable as is (0.0.0.0). Empty: Bind.
	Advertise string
	// API is the HTTPS API address; Raft is multiplexed on it (ALPN).
	API string
	// Peers are gossip addresses of nodes to join through; this node's own
	// address may be among them.
	Peers []string
	// Secret is the cluster secret.
	Secret identity.Secret
	// BootstrapExpect, when > 0, makes this node bootstrap Raft together
	// with the first BootstrapExpect servers it sees, once, on a fresh data dir.
	BootstrapExpect int
	// Devices is the device list this node offers: "cpu:4", "npu:0-7".
	Devices string
	// DeviceIPs are its NPUs' own NIC addresses for HCCL rank tables
	// ("0=192.168.100.101,..."; ReadDeviceIPs reads them from /etc/hccn.conf).
	DeviceIPs string
	// Version is advertised to the cluster.
	Version string
	// JoinTimeout bounds how long Start keeps retrying Peers before it
	// gives up with an error.
	JoinTimeout time.Duration
	// Restartable: the daemon's owner watches RestartRequested and
	// restarts it (bloomd join does); otherwise the restart API refuses.
	Restartable bool

	// MaxVoters caps the Raft voters (odd: 3 or 5); other servers are non-voters.
	MaxVoters int
	// StabilizationTime is how long a non-voter must be alive and
	// replicating before the leader promotes it.
	StabilizationTime time.Duration
	// DeadServerGrace is how long a server is dead or left before the
	// leader replaces it (voter) or removes it (non-voter).
	DeadServerGrace time.Duration
	// LeaderGrace: a new leader does not remove anyone for this long, nor
	// fail a job for a node its gossip has not heard of (gossip decides who
	// is alive; a new coordinator must not mass-fail). A node gossip has
	// found dead fails its jobs' attempts at once.
	LeaderGrace time.Duration
	// ReconcileInterval is how often the leader reconciles gossip into Raft.
	ReconcileInterval time.Duration

	// Raft timings, as hashicorp/raft's.
	HeartbeatTimeout   time.Duration
	ElectionTimeout    time.Duration
	LeaderLeaseTimeout time.Duration
	// ApplyTimeout bounds one Raft Apply (and Barrier).
	ApplyTimeout time.Duration

	// Jobs configures the workers this node runs.
	Jobs JobsConfig

	// Gossip holds the failure-detector timings; its Name, addresses, Key
	// and Meta are filled in by the daemon.
	Gossip membership.Config

	// Logger receives structured logs; nil discards them.
	Logger *slog.Logger
	// RaftLogLevel filters raft's own log lines ("warn" by default).
	RaftLogLevel slog.Level

	// raftAppendFault, in tests, fails the Raft log's appends with the
	// error it returns (a full disk) while it returns one.
	raftAppendFault func() error
}

// DefaultConfig returns the production defaults.
func DefaultConfig() Config {
	return Config{
		Bind:               "0.0.0.0:7946",
		API:                "0.0.0.0:7950",
		Devices:            "cpu:1",
		Version:            "dev",
		JoinTimeout:        60 * time.Second,
		MaxVoters:          5,
		StabilizationTime:  2 * time.Second,
		DeadServerGrace:    10 * time.Second,
		LeaderGrace:        5 * time.Second,
		ReconcileInterval:  500 * time.Millisecond,
		HeartbeatTimeout:   time.Second,
		ElectionTimeout:    time.Second,
		LeaderLeaseTimeout: 500 * time.Millisecond,
		ApplyTimeout:       10 * time.Second,
		Jobs:               DefaultJobsConfig(),
		Gossip:             membership.DefaultConfig(),
		RaftLogLevel:       slog.LevelWarn,
	}
}

// Validate checks the configuration and says what to fix.
func (c *Config) Validate() error {
	var errs []error
	if !coord.ValidName(c.Name) {
		errs = append(errs, fmt.Errorf("daemon: --name %q: use 1–63 letters, digits, '.', '_' or '-'", c.Name))
	}
	if c.DataDir == "" {
		errs = append(errs, errors.New("daemon: --data-dir is required: the Raft log lives there"))
	}
	for flag, a := range map[string]string{"--bind": c.Bind, "--api": c.API} {
		if err := checkHostPort(flag, a, true); err != nil {
			errs = append(errs, err)
		}
	}
	if c.Advertise != "" {
		if err := checkHostPort("--advertise", c.Advertise, false); err != nil {
			errs = append(errs, err)
		}
	}
	for _, p := range c.Peers {
		if err := checkHostPort("--peers", p, false); err != nil {
			errs = append(errs, err)
		}
	}
	if c.Secret == (identity.Secret{}) {
		errs = append(errs, errors.New("daemon: no cluster secret: pass --secret-file (make one with `bloomd keygen`)"))
	}
	if c.BootstrapExpect < 0 || c.BootstrapExpect > 7 {
		errs = append(errs, fmt.Errorf("daemon: --bootstrap-expect %d: want 0 (join an existing cluster) or 1..7", c.BootstrapExpect))
	}
	if _, err := sched.ParseDevices(c.Devices); err != nil {
		errs = append(errs, err)
	}
	if c.MaxVoters < 1 || c.MaxVoters%2 == 0 {
		errs = append(errs, fmt.Errorf("daemon: MaxVoters %d: want an odd number ≥ 1", c.MaxVoters))
	}
	if c.LeaderLeaseTimeout > c.HeartbeatTimeout || c.ElectionTimeout < c.HeartbeatTimeout || c.LeaderLeaseTimeout < 5*time.Millisecond {
		errs = append(errs, errors.New("daemon: want 5ms ≤ LeaderLeaseTimeout ≤ HeartbeatTimeout ≤ ElectionTimeout"))
	}
	if err := c.Jobs.validate(); err != nil {
		errs = append(errs, err)
	}
	if c.JoinTimeout <= 0 || c.ApplyTimeout <= 0 || c.ReconcileInterval <= 0 {
		errs = append(errs, errors.New("daemon: JoinTimeout, ApplyTimeout and ReconcileInterval must be > 0"))
	}
	return errors.Join(errs...)
}

func checkHostPort(flag, a string, portZeroOK bool) error {
	h, p, err := net.SplitHostPort(a)
	if err != nil {
		return fmt.Errorf("daemon: %s %q: want HOST:PORT", flag, a)
	}
	n, err := strconv.Atoi(p)
	if err != nil || n < 0 || n > 65535 || (n == 0 && !portZeroOK) {
		return fmt.Errorf("daemon: %s %q: bad port", flag, a)
	}
	if net.ParseIP(h) == nil {
		return fmt.Errorf("daemon: %s %q: want an IP address, not a host name", flag, a)
	}
	return nil
}
