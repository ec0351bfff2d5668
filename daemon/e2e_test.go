package daemon_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"bloom/api"
	"bloom/daemon/identity"
	"bloom/internal/testutil"
)

// TestEndToEnd12 runs the real bloomd: 12 processes on 127.0.0.1–12 form
// one cluster; the leader is SIGKILLed and another takes over; a follower
// is SIGKILLed, reported dead, restarted and rejoins; a process with
// another secret is refused. It logs formation, failover and detection
// times. Skipped with -short; BLOOM_E2E_NODES changes the node count.
func TestEndToEnd12(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs 12 bloomd processes")
	}
	n := 12
	if v := os.Getenv("BLOOM_E2E_NODES"); v != "" {
		fmt.Sscan(v, &n)
	}
	e := newE2E(t, n)
	for i := range n {
		e.start(i)
	}
	wantVoters := min(5, n)
	if wantVoters%2 == 0 {
		wantVoters--
	}

	// Formation: a leader, every node alive, every node in Raft.
	var st *api.Status
	formed := e.waitFor(60*time.Second, "cluster formed", func() bool {
		var err error
		st, err = e.client(0).Status(e.ctx())
		if err != nil || st.Leader == "" || len(st.Voters)+len(st.Nonvoters) != n {
			return false
		}
		ms, err := e.client(0).Members(e.ctx())
		return err == nil && countState(ms, api.StateAlive) == n
	})
	fiveVoters := e.waitFor(60*time.Second, "voters promoted", func() bool {
		st, _ = e.client(0).Status(e.ctx())
		return st != nil && len(st.Voters) == wantVoters
	})
	t.Logf("formation: %d nodes, leader %s, all in Raft %v after the last start (all voters promoted after %v; DESIGN target ≤ 5 s)",
		n, st.Leader, formed.Round(time.Millisecond), (formed + fiveVoters).Round(time.Millisecond))

	// Failover: SIGKILL the leader.
	old := st.Leader
	li := e.index(old)
	e.kill(li)
	probe := (li + 1) % n
	failover := e.waitFor(30*time.Second, "new leader", func() bool {
		s, err := e.client(probe).Status(e.ctx())
		return err == nil && s.Leader != "" && s.Leader != old
	})
	st, _ = e.client(probe).Status(e.ctx())
	t.Logf("failover: %s SIGKILLed, %s leads after %v (target ≤ 3 s)", old, st.Leader, failover.Round(time.Millisecond))

	// Detection: SIGKILL a follower; the leader reports it dead.
	vi := e.index(st.Leader)
	for vi == e.index(st.Leader) || vi == li {
		vi = (vi + 1) % n
	}
	leader := e.index(st.Leader)
	e.kill(vi)
	var sawSuspect bool
	detect := e.waitFor(30*time.Second, "follower reported dead", func() bool {
		ms, err := e.client(leader).Members(e.ctx())
		state := memberState(ms, e.name(vi))
		sawSuspect = sawSuspect || state == api.StateSuspect
		return err == nil && state == api.StateDead
	})
	t.Logf("detection: %s SIGKILLed, reported dead after %v (suspect seen: %v; target ≤ 6 s)", e.name(vi), detect.Round(time.Millisecond), sawSuspect)

	// Restart: it rejoins with its log and catches up.
	e.start(vi)
	rejoin := e.waitFor(60*time.Second, "restarted follower rejoins", func() bool {
		ls, err := e.client(leader).Status(e.ctx())
		if err != nil {
			return false
		}
		s, err := e.client(vi).Status(e.ctx())
		return err == nil && s.Leader == ls.Leader && s.AppliedIndex >= ls.CommitIndex &&
			(slices.Contains(ls.Voters, e.name(vi)) || slices.Contains(ls.Nonvoters, e.name(vi)))
	})
	t.Logf("restart: %s rejoined and caught up after %v", e.name(vi), rejoin.Round(time.Millisecond))

	// Wrong secret: refused, exits with a clear error, never listed.
	intruder := e.intruder()
	if err := intruder.wait(30 * time.Second); err == nil {
		t.Error("bloomd with another secret kept running")
	}
	if log := e.log("intruder"); !strings.Contains(log, "could not join") || !strings.Contains(log, "secret") {
		t.Errorf("intruder's error does not say why:\n%s", tail(log, 5))
	}
	ms, err := e.client(leader).Members(e.ctx())
	if err != nil || memberState(ms, "intruder") != "" {
		t.Errorf("intruder listed: %v %v", ms, err)
	}
}

type proc struct {
	cmd  *exec.Cmd
	done chan error
}

func (p *proc) wait(d time.Duration) error {
	select {
	case err := <-p.done:
		return err
	case <-time.After(d):
		return errors.New("still running")
	}
}

type e2e struct {
	t       *testing.T
	bin     string
	dir     string
	secret  string
	token   string
	gossip  []string
	apis    []string
	procs   []*proc
	clients map[int]*api.Client
}

func newE2E(t *testing.T, n int) *e2e {
	dir := t.TempDir()
	bin := filepath.Join(dir, "bloomd")
	build := exec.Command("go", "build", "-o", bin, "bloom/cmd/bloomd")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	s, _ := identity.GenerateSecret()
	e := &e2e{t: t, bin: bin, dir: dir, secret: filepath.Join(dir, "cluster.secret"), token: s.Token(),
		procs: make([]*proc, n), clients: map[int]*api.Client{}}
	os.WriteFile(e.secret, []byte(s.String()+"\n"), 0o600)
	for i := range n {
		ip := fmt.Sprintf("127.0.0.%d", i+1)
		e.gossip = append(e.gossip, freeAddr(t, ip))
		e.apis = append(e.apis, freeAddr(t, ip))
	}
	t.Cleanup(e.stopAll)
	return e
}

// freeAddr returns ip:port with a port that was free for TCP and UDP a moment ago.
func freeAddr(t *testing.T, ip string) string {
	for range 20 {
		ln, err := net.Listen("tcp", ip+":0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		u, err := net.ListenPacket("udp", addr)
		ln.Close()
		if err == nil {
			u.Close()
			return addr
		}
	}
	t.Fatal("no free port")
	return ""
}

func (e *e2e) name(i int) string { return fmt.Sprintf("n%d", i+1) }

func (e *e2e) index(name string) int {
	var i int
	if _, err := fmt.Sscanf(name, "n%d", &i); err != nil {
		e.t.Fatalf("node name %q", name)
	}
	return i - 1
}

func (e *e2e) spawn(name string, args []string, env ...string) *proc {
	logf, err := os.OpenFile(filepath.Join(e.dir, name+".log"), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		e.t.Fatal(err)
	}
	cmd := exec.Command(e.bin, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Env = append(os.Environ(), env...)
	if err := cmd.Start(); err != nil {
		e.t.Fatal(err)
	}
	p := &proc{cmd: cmd, done: make(chan error, 1)}
	go func() { p.done <- cmd.Wait(); logf.Close() }()
	return p
}

func (e *e2e) start(i int) {
	peers := strings.Join(e.gossip[:min(3, len(e.gossip))], ",")
	e.procs[i] = e.spawn(e.name(i), []string{"join", "--name", e.name(i), "--data-dir", filepath.Join(e.dir, e.name(i)),
		"--bind", e.gossip[i], "--api", e.apis[i], "--peers", peers, "--secret-file", e.secret,
		"--bootstrap-expect", "3", "--devices", "cpu:1", "--log-format", "json"})
}

func (e *e2e) intruder() *proc {
	s, _ := identity.GenerateSecret()
	f := filepath.Join(e.dir, "other.secret")
	os.WriteFile(f, []byte(s.String()+"\n"), 0o600)
	return e.spawn("intruder", []string{"join", "--name", "intruder", "--data-dir", filepath.Join(e.dir, "intruder"),
		"--bind", freeAddr(e.t, "127.0.0.13"), "--api", freeAddr(e.t, "127.0.0.13"), "--peers", e.gossip[0],
		"--secret-file", f, "--log-format", "json"}, "BLOOMD_JOIN_TIMEOUT=3s")
}

func (e *e2e) kill(i int) {
	e.procs[i].cmd.Process.Signal(syscall.SIGKILL)
	e.procs[i].wait(10 * time.Second)
	e.procs[i] = nil
	if c := e.clients[i]; c != nil {
		c.Close()
		delete(e.clients, i)
	}
}

// stopAll sends SIGTERM to every bloomd (graceful leave) and SIGKILL to
// those still running after a while.
func (e *e2e) stopAll() {
	for _, c := range e.clients {
		c.Close()
	}
	for _, p := range e.procs {
		if p != nil {
			p.cmd.Process.Signal(syscall.SIGTERM)
		}
	}
	for i, p := range e.procs {
		if p != nil && p.wait(20*time.Second) != nil && p.cmd.ProcessState == nil {
			e.t.Logf("%s did not stop on SIGTERM", e.name(i))
			p.cmd.Process.Kill()
			p.wait(5 * time.Second)
		}
	}
	if e.t.Failed() {
		for i := range e.procs {
			e.t.Logf("%s log tail:\n%s", e.name(i), tail(e.log(e.name(i)), 15))
		}
	}
}

func (e *e2e) log(name string) string {
	b, _ := os.ReadFile(filepath.Join(e.dir, name+".log"))
	return string(b)
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

func (e *e2e) client(i int) *api.Client {
	if c, ok := e.clients[i]; ok {
		return c
	}
	tlsConf, err := identity.TokenClientTLS(e.token)
	if err != nil {
		e.t.Fatal(err)
	}
	c, err := api.NewClient(e.apis[i], tlsConf, e.token)
	if err != nil {
		e.t.Fatal(err)
	}
	e.clients[i] = c
	return c
}

func (e *e2e) ctx() context.Context {
	c, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	e.t.Cleanup(cancel)
	return c
}

// waitFor polls cond until it holds and returns how long that took.
func (e *e2e) waitFor(d time.Duration, what string, cond func() bool) time.Duration {
	e.t.Helper()
	return testutil.WaitFor(e.t, d, what, cond)
}

func countState(ms *api.MembersResponse, state string) int {
	n := 0
	for _, m := range ms.Members {
		if m.State == state {
			n++
		}
	}
	return n
}

func memberState(ms *api.MembersResponse, name string) string {
	if ms == nil {
		return ""
	}
	for _, m := range ms.Members {
		if m.Name == name {
			return m.State
		}
	}
	return ""
}
