package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Cluster is N real bloomd processes on this machine, each with its own
// name, data dir, log and addresses, and the bloomctl that talks to them.
// One goroutine drives it; only the processes' reapers run beside it.
type Cluster struct {
	// Bin is the directory holding bloomd and bloomctl.
	Bin string
	// Dir holds the cluster secret, each node's data dir and log.
	Dir string
	// Devices is each node's --devices.
	Devices string
	// Env is added to each bloomd's environment, and so its workers'.
	Env []string
	// Logf reports what the cluster does; nil is quiet.
	Logf func(format string, args ...any)

	secret string
	expect int
	nodes  []*Node
}

// Node is one bloomd. Its name, data dir and addresses survive restarts.
type Node struct {
	Name string
	// Host is the address it binds; NetNS the network namespace it runs
	// in ("" for this program's own).
	Host, NetNS string
	DataDir     string
	LogPath     string
	// Gossip and API are the addresses it bound on its first start (port
	// 0 lets the kernel choose); restarts bind them again.
	Gossip, API string
	// Partitioned: its network is cut, so bloomctl does not ask it.
	Partitioned bool

	proc *process // nil while it is down
}

// NodeSpec places a node: the host it binds and its network namespace.
type NodeSpec struct{ Host, NetNS string }

// Loopback is n nodes on 127.0.0.1..n in this namespace.
func Loopback(n int) []NodeSpec {
	out := make([]NodeSpec, n)
	for i := range out {
		out[i].Host = fmt.Sprintf("127.0.0.%d", i+1)
	}
	return out
}

// Nodes lists the nodes, n1 first.
func (c *Cluster) Nodes() []*Node { return c.nodes }

// Node returns the node called name, or nil.
func (c *Cluster) Node(name string) *Node {
	for _, n := range c.nodes {
		if n.Name == name {
			return n
		}
	}
	return nil
}

// Up reports whether the node's bloomd is running.
func (n *Node) Up() bool { return n.proc != nil && !n.proc.exited() }

// PID is the running bloomd's process id, or 0.
func (n *Node) PID() int {
	if !n.Up() {
		return 0
	}
	return n.proc.pid()
}

func (c *Cluster) logf(format string, args ...any) {
	if c.Logf != nil {
		c.Logf(format, args...)
	}
}

// Start makes the cluster secret and starts one bloomd per spec, n1
// first and the others joining through it, then waits until every node
// is alive in gossip and Raft has a healthy leader.
func (c *Cluster) Start(ctx context.Context, specs []NodeSpec) error {
	c.secret = filepath.Join(c.Dir, "cluster.secret")
	if out, err := exec.CommandContext(ctx, c.bloomd(), "keygen", "--out", c.secret).CombinedOutput(); err != nil {
		return fmt.Errorf("soak: bloomd keygen: %v: %s", err, out)
	}
	c.expect = min(len(specs), 3)
	for i, s := range specs {
		name := fmt.Sprintf("n%d", i+1)
		n := &Node{Name: name, Host: s.Host, NetNS: s.NetNS, DataDir: filepath.Join(c.Dir, name),
			LogPath: filepath.Join(c.Dir, name+".log")}
		c.nodes = append(c.nodes, n)
		if err := c.start(ctx, n); err != nil {
			return err
		}
	}
	start := time.Now()
	if err := c.WaitHealthy(ctx, 60*time.Second); err != nil {
		return err
	}
	c.logf("%d nodes alive, Raft healthy, %v after the last start", len(specs), time.Since(start).Round(time.Millisecond))
	return nil
}

func (c *Cluster) bloomd() string   { return filepath.Join(c.Bin, "bloomd") }
func (c *Cluster) bloomctl() string { return filepath.Join(c.Bin, "bloomctl") }

// argv is the command line that starts n: on its first start with port
// 0, on a restart with the addresses it bound then.
func (c *Cluster) argv(n *Node) []string {
	bind, api := n.Host+":0", n.Host+":0"
	if n.Gossip != "" {
		bind, api = n.Gossip, n.API
	}
	argv := []string{c.bloomd(), "join", "--name", n.Name, "--data-dir", n.DataDir, "--bind", bind, "--api", api,
		"--secret-file", c.secret, "--bootstrap-expect", strconv.Itoa(c.expect), "--devices", c.Devices,
		"--log-format", "text"}
	var peers []string
	for _, o := range c.nodes {
		if o != n && o.Gossip != "" {
			peers = append(peers, o.Gossip)
		}
	}
	if len(peers) > 0 {
		argv = append(argv, "--peers", strings.Join(peers, ","))
	}
	if n.NetNS != "" {
		argv = append([]string{"ip", "netns", "exec", n.NetNS}, argv...) // ip execs in place: same pid
	}
	return argv
}

// start starts n's bloomd and waits for its 'bloomd started' line, which
// names the addresses it bound.
func (c *Cluster) start(ctx context.Context, n *Node) error {
	if n.Up() {
		return fmt.Errorf("soak: %s is already running", n.Name)
	}
	var from int64
	if st, err := os.Stat(n.LogPath); err == nil {
		from = st.Size() // a restart appends to the log
	}
	p, err := startProcess(c.argv(n), c.Env, n.LogPath)
	if err != nil {
		return err
	}
	n.proc = p
	var gossip, api string
	err = waitFor(ctx, 30*time.Second, n.Name+"'s 'bloomd started' line", func() (bool, error) {
		if p.exited() {
			return false, fmt.Errorf("%s exited (%v): %s", n.Name, p.err, logTail(n.LogPath, 5))
		}
		gossip, api = startedLine(n.LogPath, from)
		return api != "", nil
	})
	if err != nil {
		return err
	}
	if n.Gossip == "" {
		n.Gossip, n.API = gossip, api
	} else if gossip != n.Gossip || api != n.API {
		return fmt.Errorf("soak: %s came back on gossip=%s api=%s, not %s %s", n.Name, gossip, api, n.Gossip, n.API)
	}
	c.logf("%s started: pid %d, gossip=%s api=%s%s", n.Name, p.pid(), gossip, api, nsNote(n.NetNS))
	return nil
}

func nsNote(ns string) string {
	if ns == "" {
		return ""
	}
	return ", in network namespace " + ns
}

// startedLine finds the first 'bloomd started' line past offset from and
// returns its gossip= and api= fields ("" until there is one).
func startedLine(path string, from int64) (gossip, api string) {
	f, err := os.Open(path)
	if err != nil {
		return "", ""
	}
	defer f.Close()
	if _, err := f.Seek(from, 0); err != nil {
		return "", ""
	}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if !strings.Contains(line, `msg="bloomd started"`) {
			continue
		}
		for _, field := range strings.Fields(line) {
			if v, ok := strings.CutPrefix(field, "gossip="); ok {
				gossip = v
			} else if v, ok := strings.CutPrefix(field, "api="); ok {
				api = v
			}
		}
		return gossip, api
	}
	return "", ""
}

// logTail is the last n lines of a log, for error messages.
func logTail(path string, n int) string {
	b, _ := os.ReadFile(path)
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// Restart starts a node that is down again, under its name, data dir and
// addresses.
func (c *Cluster) Restart(ctx context.Context, n *Node) error {
	return c.start(ctx, n)
}

// Stop sends n's bloomd SIGTERM (it drains: its jobs checkpoint and stop,
// then it leaves) and waits until it has exited.
func (c *Cluster) Stop(ctx context.Context, n *Node) error {
	if !n.Up() {
		return fmt.Errorf("soak: %s is not running", n.Name)
	}
	p := n.proc
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		return fmt.Errorf("soak: SIGTERM %s: %w", n.Name, err)
	}
	n.proc = nil
	return waitFor(ctx, 3*time.Minute, n.Name+" to exit after SIGTERM", func() (bool, error) { return p.exited(), nil })
}

// Crash SIGKILLs n's bloomd and its workers, as a machine crash would,
// and waits until none of them runs.
func (c *Cluster) Crash(ctx context.Context, n *Node) error {
	if !n.Up() {
		return fmt.Errorf("soak: %s is not running", n.Name)
	}
	p := n.proc
	n.proc = nil
	return crash(ctx, n.Name, p)
}

func crash(ctx context.Context, name string, p *process) error {
	p.crash()
	return waitFor(ctx, 10*time.Second, name+"'s processes gone", func() (bool, error) {
		return p.exited() && !groupAlive(p.pid()), nil
	})
}

// KillWorker SIGKILLs one `bloomd worker` child of n's bloomd and
// returns its pid; it waits up to d for there to be one.
func (c *Cluster) KillWorker(ctx context.Context, n *Node, d time.Duration) (int, error) {
	var pid int
	err := waitFor(ctx, d, "a worker of "+n.Name, func() (bool, error) {
		if !n.Up() {
			return false, fmt.Errorf("%s is down", n.Name)
		}
		ws, err := workerChildren(n.PID())
		if len(ws) > 0 {
			pid = ws[0]
		}
		return pid != 0, retry(err)
	})
	if err != nil {
		return 0, err
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		return 0, fmt.Errorf("soak: kill worker %d of %s: %w", pid, n.Name, err)
	}
	return pid, nil
}

// Close stops every node: SIGKILL to each process group (the data is
// scratch; a bloomd that exited by itself may have left workers), then
// waits for them to be gone.
func (c *Cluster) Close() {
	var errs []error
	for _, n := range c.nodes {
		if n.proc != nil {
			errs = append(errs, crash(context.Background(), n.Name, n.proc))
			n.proc = nil
		}
	}
	if err := errors.Join(errs...); err != nil {
		c.logf("stopping the cluster: %v", err)
	}
}
