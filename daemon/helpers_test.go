package daemon

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"bloom/api"
	"bloom/daemon/identity"
	"bloom/internal/testutil"
)

var testSecret = mustSecret()

func mustSecret() identity.Secret {
	s, err := identity.GenerateSecret()
	if err != nil {
		panic(err)
	}
	return s
}

// nodeConfig is node i (1-based) on 127.0.0.i with ports chosen by the kernel,
// with timings shortened for tests (the shape is the production one).
func nodeConfig(t *testing.T, dir string, i, expect int, s identity.Secret) Config {
	c := DefaultConfig()
	c.Name = fmt.Sprintf("n%d", i)
	c.DataDir = filepath.Join(dir, c.Name)
	ip := fmt.Sprintf("127.0.0.%d", i)
	c.Bind, c.API = ip+":0", ip+":0"
	c.Secret = s
	c.BootstrapExpect = expect
	c.Devices = "cpu:2"
	c.JoinTimeout = 5 * time.Second
	c.StabilizationTime = 500 * time.Millisecond
	c.DeadServerGrace = 2 * time.Second
	c.LeaderGrace = time.Second
	c.ReconcileInterval = 100 * time.Millisecond
	c.ApplyTimeout = 5 * time.Second
	c.Gossip.ProbeInterval, c.Gossip.ProbeTimeout, c.Gossip.GossipInterval = 200*time.Millisecond, 80*time.Millisecond, 50*time.Millisecond
	// Each node's log (Raft's from Info) shows in the test's output when
	// the test fails, or all along with BLOOM_TEST_LOG.
	c.Logger, c.RaftLogLevel = testutil.FailureLogger(t, c.Name), slog.LevelInfo
	return c
}

// waitFor is testutil.WaitFor, under the name the daemon's tests call.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	return testutil.WaitFor(t, d, what, cond)
}

// checkGoroutines fails the test if goroutines it started outlive it by
// more than 10 seconds.
func checkGoroutines(t *testing.T) {
	t.Helper()
	testutil.CheckLeaks(t, 10*time.Second)
}

// cluster is an in-process cluster on 127.0.0.1..n.
type cluster struct {
	t     *testing.T
	dir   string
	cfgs  []Config
	nodes []*Daemon // nil when stopped
}

// startCluster starts n daemons with --bootstrap-expect expect; node 1 first,
// the others joining through it.
func startCluster(t *testing.T, n, expect int) *cluster {
	t.Helper()
	c := &cluster{t: t, dir: t.TempDir()}
	for i := 1; i <= n; i++ {
		cfg := nodeConfig(t, c.dir, i, expect, testSecret)
		if i > 1 {
			cfg.Peers = []string{c.nodes[0].GossipAddr()}
		}
		d, err := Start(cfg)
		if err != nil {
			t.Fatalf("start n%d: %v", i, err)
		}
		// A restart reuses the ports the kernel chose.
		cfg.Bind, cfg.API = d.GossipAddr(), d.APIAddr()
		c.cfgs = append(c.cfgs, cfg)
		c.nodes = append(c.nodes, d)
	}
	t.Cleanup(c.stopAll)
	return c
}

func (c *cluster) stopAll() {
	for i, d := range c.nodes {
		if d != nil {
			d.Kill()
			c.nodes[i] = nil
		}
	}
}

func (c *cluster) leader() *Daemon {
	for _, d := range c.nodes {
		if d != nil && d.IsLeader() {
			return d
		}
	}
	return nil
}

func (c *cluster) waitLeader(d time.Duration) *Daemon {
	c.t.Helper()
	var l *Daemon
	waitFor(c.t, d, "a leader", func() bool { l = c.leader(); return l != nil })
	return l
}

func (c *cluster) index(d *Daemon) int {
	for i, n := range c.nodes {
		if n == d {
			return i
		}
	}
	c.t.Fatalf("%s is not running", d.Name())
	return -1
}

func (c *cluster) restart(i int) *Daemon {
	c.t.Helper()
	cfg := c.cfgs[i]
	cfg.Peers = nil
	for j, n := range c.nodes {
		if n != nil && j != i {
			cfg.Peers = append(cfg.Peers, n.GossipAddr())
		}
	}
	d, err := Start(cfg)
	if err != nil {
		c.t.Fatalf("restart %s: %v", cfg.Name, err)
	}
	c.nodes[i] = d
	return d
}

// client is bloomctl's view: mutual TLS from the secret.
func client(t *testing.T, d *Daemon, s identity.Secret) *api.Client {
	t.Helper()
	id, err := identity.New(s, "bloomctl")
	if err != nil {
		t.Fatal(err)
	}
	c, err := api.NewClient(d.APIAddr(), id.ClientTLS(identity.ALPNHTTP), "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return c
}
