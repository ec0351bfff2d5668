package membership

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"bloom/internal/testutil"
)

func testKey(b byte) []byte { return bytes.Repeat([]byte{b}, 32) }

// fastConfig is DefaultConfig with every timing divided by 5, so tests take
// a second or two; the ratios, and so the shape of detection, are the same.
func fastConfig(name string, key []byte) Config {
	c := DefaultConfig()
	c.Name, c.BindAddr, c.BindPort, c.Key = name, "127.0.0.1", 0, key
	c.ProbeInterval, c.ProbeTimeout, c.GossipInterval = 100*time.Millisecond, 40*time.Millisecond, 20*time.Millisecond
	c.TCPTimeout = time.Second
	c.Meta = NodeMeta{API: "127.0.0.1:1", Devices: "cpu:1", Version: "test"}
	if testing.Verbose() {
		c.Logger = slog.Default()
	}
	return c
}

func addr(m *Membership) string { return m.Local().Addr }

func state(m *Membership, name string) State {
	for _, mem := range m.Members() {
		if mem.Name == name {
			return mem.State
		}
	}
	return ""
}

func startN(t *testing.T, n int, key []byte) []*Membership {
	t.Helper()
	var ms []*Membership
	for i := range n {
		m, err := New(fastConfig(fmt.Sprintf("n%d", i), key))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { m.Shutdown() })
		if i > 0 {
			if _, err := m.Join([]string{addr(ms[0])}); err != nil {
				t.Fatal(err)
			}
		}
		ms = append(ms, m)
	}
	for _, m := range ms {
		testutil.WaitFor(t, 10*time.Second, "everyone alive", func() bool { return m.NumAlive() == n })
	}
	return ms
}

func TestJoinFailLeave(t *testing.T) {
	testutil.CheckLeaks(t, 5*time.Second)
	ms := startN(t, 4, testKey(1))
	if got := ms[1].Members()[0].Meta; got.Devices != "cpu:1" || got.Name != "n0" {
		t.Errorf("metadata not gossiped: %+v", got)
	}
	meta := ms[0].Meta()
	meta.Cluster = "c1"
	if err := ms[0].SetMeta(meta, time.Second); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 5*time.Second, "metadata update", func() bool { return ms[3].Members()[0].Meta.Cluster == "c1" })

	start := time.Now()
	ms[2].Shutdown() // a crash, as the others see it
	sawSuspect := false
	testutil.WaitFor(t, 10*time.Second, "n2 dead", func() bool {
		sawSuspect = sawSuspect || state(ms[0], "n2") == StateSuspect || state(ms[1], "n2") == StateSuspect
		return state(ms[0], "n2") == StateDead
	})
	t.Logf("n2 declared dead after %v (timings ÷5 of the defaults); suspect seen on the way: %v", time.Since(start), sawSuspect)

	if err := ms[3].Leave(time.Second); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 10*time.Second, "n3 left", func() bool { return state(ms[0], "n3") == StateLeft })
	ms[3].Shutdown()
	if err := ms[3].Leave(time.Second); !errors.Is(err, ErrShutdown) {
		t.Errorf("Leave after Shutdown: %v", err)
	}
	select {
	case <-ms[0].Changed():
	default:
		t.Error("Changed was never signalled")
	}
}

func TestWrongKeyRefused(t *testing.T) {
	testutil.CheckLeaks(t, 5*time.Second)
	ms := startN(t, 2, testKey(1))
	bad, err := New(fastConfig("intruder", testKey(2)))
	if err != nil {
		t.Fatal(err)
	}
	defer bad.Shutdown()
	if _, err := bad.Join([]string{addr(ms[0])}); err == nil || !strings.Contains(err.Error(), "secret") {
		t.Fatalf("join with the wrong key: %v, want a refusal that mentions the secret", err)
	}
	if n := ms[0].NumAlive(); n != 2 {
		t.Errorf("cluster has %d members after the refused join", n)
	}
}

func TestAcceptRejectsForeignCluster(t *testing.T) {
	testutil.CheckLeaks(t, 5*time.Second)
	acceptOnly := func(id string) func(NodeMeta) error {
		return func(p NodeMeta) error {
			if p.Cluster != "" && p.Cluster != id {
				return fmt.Errorf("cluster %s is not %s", p.Cluster, id)
			}
			return nil
		}
	}
	a := fastConfig("a", testKey(1))
	a.Meta.Cluster = "c1"
	a.Accept = acceptOnly("c1")
	ma, err := New(a)
	if err != nil {
		t.Fatal(err)
	}
	defer ma.Shutdown()
	b := fastConfig("b", testKey(1))
	b.Meta.Cluster = "c2"
	b.Accept = acceptOnly("c2")
	mb, err := New(b)
	if err != nil {
		t.Fatal(err)
	}
	defer mb.Shutdown()
	if _, err := mb.Join([]string{addr(ma)}); !errors.Is(err, ErrRejected) {
		t.Fatalf("a node of cluster c2 joining c1: %v, want ErrRejected", err)
	}
	if ma.NumAlive() != 1 {
		t.Errorf("c1 sees %d members", ma.NumAlive())
	}
}

func TestBadInput(t *testing.T) {
	testutil.CheckLeaks(t, 5*time.Second)
	c := fastConfig("x", testKey(1))
	c.Meta.Devices = strings.Repeat("npu:0-7,", 100)
	if err := c.Validate(); !errors.Is(err, ErrMetaTooLarge) {
		t.Errorf("oversize metadata: %v", err)
	}
	c = fastConfig("", []byte("short"))
	if err := c.Validate(); err == nil {
		t.Error("empty name and short key accepted")
	}
	m, err := New(fastConfig("x", testKey(1)))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Shutdown()
	busy := fastConfig("y", testKey(1))
	busy.BindPort = m.Local().port()
	if m2, err := New(busy); err == nil {
		m2.Shutdown()
		t.Error("second node on a used port started")
	} else if !strings.Contains(err.Error(), "in use") {
		t.Errorf("port in use: %v", err)
	}
	if _, err := m.Join([]string{"127.0.0.1:1"}); err == nil {
		t.Error("join to a closed port succeeded")
	}
	if err := m.SetMeta(NodeMeta{Devices: strings.Repeat("x", 600)}, time.Second); !errors.Is(err, ErrMetaTooLarge) {
		t.Errorf("SetMeta oversize: %v", err)
	}
	if _, err := DecodeMeta([]byte("{")); err == nil {
		t.Error("bad metadata decoded")
	}
}
