package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"os"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/memberlist"

	"bloom/membership"
)

// gossipConfig is bloomd's memberlist configuration for one node: the
// timings of membership.DefaultConfig over memberlist's LAN defaults,
// AES-256 with verification both ways, compression on (the LAN default).
// It mirrors membership's unexported memberlistConfig field for field,
// with the in-memory transport in place of UDP/TCP and without the
// delegates that feed Membership's own view (this program keeps its own).
func gossipConfig(name string, key []byte, tr memberlist.NodeAwareTransport, d *gossipNode, logs io.Writer) *memberlist.Config {
	mc := membership.DefaultConfig()
	c := memberlist.DefaultLANConfig()
	c.Name = name
	c.Transport = tr
	c.SecretKey = key
	c.GossipVerifyIncoming, c.GossipVerifyOutgoing = true, true
	c.ProbeInterval, c.ProbeTimeout = mc.ProbeInterval, mc.ProbeTimeout
	c.SuspicionMult, c.SuspicionMaxTimeoutMult = mc.SuspicionMult, mc.SuspicionMaxTimeoutMult
	c.IndirectChecks = mc.IndirectChecks
	c.GossipInterval, c.GossipNodes, c.RetransmitMult = mc.GossipInterval, mc.GossipNodes, mc.RetransmitMult
	c.PushPullInterval, c.TCPTimeout = mc.PushPullInterval, mc.TCPTimeout
	c.GossipToTheDeadTime, c.DeadNodeReclaimTime = mc.GossipToTheDeadTime, mc.DeadNodeReclaimTime
	c.Delegate = d
	c.Events = d
	c.LogOutput = nil
	c.Logger = log.New(logs, "", 0)
	return c
}

// nodeMeta is what a bloomd with eight NPUs advertises (about 230 bytes
// of JSON): the metadata every alive message and push/pull carries.
func nodeMeta(name string, i int) []byte {
	addr := fmt.Sprintf("10.%d.%d.%d", byte(i>>16), byte(i>>8), byte(i))
	b, err := json.Marshal(membership.NodeMeta{Name: name, API: addr + ":7443", Raft: addr + ":7443", QUIC: addr + ":7444",
		Devices: "npu:0-7", DevicesHealthy: "8/8", MemPerDevice: 65536, Version: "v0.20.0",
		Cluster: "c-5f0e1d2c3b4a6978", Nonce: fmt.Sprintf("%016x", uint64(i)*0x9e3779b97f4a7c15)})
	if err != nil {
		panic(err) // a fixed struct always encodes
	}
	return b
}

// gossipCluster is n memberlist instances on one memNet.
type gossipCluster struct {
	n      int
	net    *memNet
	nodes  []*gossipNode
	logs   *logScan
	start  time.Time
	formed chan struct{} // closed once every node has seen n alive
	nForm  atomic.Int32

	joinRetries, joinFailed atomic.Int64

	victim    atomic.Pointer[string]
	declared  chan time.Time // a survivor's NotifyLeave for the victim
	falseDead atomic.Int64   // NotifyLeave for any other node
}

// gossipNode is one member and its delegate.
type gossipNode struct {
	c    *gossipCluster
	name string
	meta []byte
	tr   *memTransport
	ml   *memberlist.Memberlist

	mu    sync.Mutex
	alive int
	done  bool
}

// newGossipCluster starts n lone members; join makes them a cluster.
func newGossipCluster(n int) (*gossipCluster, error) {
	c := &gossipCluster{n: n, net: newMemNet(), formed: make(chan struct{}), declared: make(chan time.Time, n)}
	c.logs = &logScan{victim: &c.victim}
	key := bytes.Repeat([]byte{7}, 32)
	for i := range n {
		name := fmt.Sprintf("node-%04d", i)
		d := &gossipNode{c: c, name: name, meta: nodeMeta(name, i)}
		d.tr = c.net.newTransport(name, i+1)
		ml, err := memberlist.Create(gossipConfig(name, key, d.tr, d, c.logs))
		if err != nil {
			c.shutdown()
			return nil, fmt.Errorf("scalesim: member %d: %w", i, err)
		}
		d.ml = ml
		c.nodes = append(c.nodes, d)
	}
	return c, nil
}

// join has every node join node 0, par at a time (0: all at once), as
// `bloomd join --peers` does (retrying for a minute), and returns at once: formed is closed when
// every node sees n alive.
func (c *gossipCluster) join(par int) {
	if par <= 0 {
		par = c.n
	}
	c.start = time.Now()
	seed := c.nodes[0].tr.addr
	sem := make(chan struct{}, par)
	for _, d := range c.nodes[1:] {
		go func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			// As bloomd's Start: retry every 500 ms for JoinTimeout (60 s).
			for deadline := time.Now().Add(time.Minute); ; {
				_, err := d.ml.Join([]string{seed})
				if err == nil {
					return
				}
				c.joinRetries.Add(1)
				if time.Now().After(deadline) {
					c.joinFailed.Add(1)
					return
				}
				<-time.After(500 * time.Millisecond)
			}
		}()
	}
}

// kill stops a node without a leave, as a crash, and notes the time.
func (c *gossipCluster) kill(d *gossipNode) time.Time {
	c.victim.Store(&d.name)
	at := time.Now()
	c.logs.killed.Store(at.UnixNano())
	d.ml.Shutdown()
	return at
}

// leastAlive is the fewest members alive any node sees.
func (c *gossipCluster) leastAlive() int {
	least := c.n
	for _, d := range c.nodes {
		d.mu.Lock()
		least = min(least, d.alive)
		d.mu.Unlock()
	}
	return least
}

// sent sums the bytes and packets every node has sent.
func (c *gossipCluster) sent() (bytes, packets int64) {
	for _, d := range c.nodes {
		bytes += d.tr.sent.Load()
		packets += d.tr.packetN.Load()
	}
	return bytes, packets
}

func (c *gossipCluster) shutdown() {
	var wg sync.WaitGroup
	for _, d := range c.nodes {
		wg.Go(func() { d.ml.Shutdown() })
	}
	wg.Wait()
}

// The delegate: metadata, and the events that time formation and detection.

func (d *gossipNode) NodeMeta(limit int) []byte                  { return d.meta }
func (d *gossipNode) NotifyMsg([]byte)                           {}
func (d *gossipNode) GetBroadcasts(overhead, limit int) [][]byte { return nil }
func (d *gossipNode) LocalState(join bool) []byte                { return nil }
func (d *gossipNode) MergeRemoteState(buf []byte, join bool)     {}
func (d *gossipNode) NotifyUpdate(*memberlist.Node)              {}

func (d *gossipNode) NotifyJoin(*memberlist.Node) {
	d.mu.Lock()
	d.alive++
	first := d.alive == d.c.n && !d.done
	d.done = d.done || first
	d.mu.Unlock()
	if first && int(d.c.nForm.Add(1)) == d.c.n {
		close(d.c.formed)
	}
}

func (d *gossipNode) NotifyLeave(n *memberlist.Node) {
	d.mu.Lock()
	d.alive--
	d.mu.Unlock()
	if v := d.c.victim.Load(); v != nil && *v == n.Name {
		d.c.declared <- time.Now()
		return
	}
	d.c.falseDead.Add(1)
}

// logScan reads every member's log lines: it counts warnings and errors
// and notes when the first node suspected the victim (memberlist reports
// suspicion only in its log; membership parses the same line).
type logScan struct {
	victim       *atomic.Pointer[string]
	killed       atomic.Int64 // unix ns
	firstSuspect atomic.Int64 // ns after killed
	warns, errs  atomic.Int64
}

func (l *logScan) Write(p []byte) (int, error) {
	switch {
	case bytes.HasPrefix(p, []byte("[WARN]")):
		l.warns.Add(1)
	case bytes.HasPrefix(p, []byte("[ERR]")):
		l.errs.Add(1)
	}
	if os.Getenv("SCALESIM_LOG") != "" && !bytes.HasPrefix(p, []byte("[DEBUG]")) {
		os.Stderr.Write(p)
	}
	if v := l.victim.Load(); v != nil && bytes.Contains(p, []byte("Suspect "+*v+" has failed")) {
		l.firstSuspect.CompareAndSwap(0, time.Now().UnixNano()-l.killed.Load())
	}
	return len(p), nil
}

// gossipResult is what the gossip phase measured.
type gossipResult struct {
	N                  int
	Formation          time.Duration
	FormBytes          float64 // bytes sent per node per second while forming
	SteadyBytes        float64 // per node per second after settling
	SteadyPackets      float64
	SteadyCPU          float64 // cores the whole process used after settling
	FirstSuspect       time.Duration
	Detect             []time.Duration // per survivor, sorted
	DetectBytes        float64         // per node per second from the kill to the last declaration
	Failed             string          // why the phase stopped early, or ""
	FormedNodes        int             // nodes that saw all alive
	LateP99, LateMax   time.Duration   // how late a 10 ms ticker fired: CPU starvation
	JoinRetries        int64           // joins refused (seed busy) and tried again
	FalseDead          int64           // NotifyLeave for a node that was never killed, whole run
	Dropped, Warn, Err int64
}

// gossipOptions says how to run the gossip phase.
type gossipOptions struct {
	N           int
	JoinPar     int
	FormTimeout time.Duration
	Settle      time.Duration // after formation, before measuring steady bandwidth
	Window      time.Duration // steady bandwidth window
	DetTimeout  time.Duration
	Progress    func(format string, args ...any)
}

// runGossip forms a cluster, measures its idle bandwidth, kills a node
// and times its detection by every survivor.
func runGossip(o gossipOptions) (r gossipResult, err error) {
	r = gossipResult{N: o.N}
	c, err := newGossipCluster(o.N)
	if err != nil {
		return r, err
	}
	defer c.shutdown()
	late := watchLateness()
	defer func() {
		r.LateP99, r.LateMax = late.stopped()
		r.FormedNodes = int(c.nForm.Load())
		r.FalseDead, r.JoinRetries = c.falseDead.Load(), c.joinRetries.Load()
		r.Dropped, r.Warn, r.Err = c.net.dropped.Load(), c.logs.warns.Load(), c.logs.errs.Load()
	}()
	o.Progress("gossip: %d members created; joining", o.N)
	b0, _ := c.sent()
	c.join(o.JoinPar)
	giveUp := time.After(o.FormTimeout)
	tick := time.NewTicker(10 * time.Second)
	defer tick.Stop()
	for formed := false; !formed; {
		select {
		case <-c.formed:
			formed = true
		case <-tick.C:
			o.Progress("gossip: %v: %d of %d nodes see all alive, the least informed sees %d; %d joins retried, %d failed",
				time.Since(c.start).Round(time.Second), c.nForm.Load(), o.N, c.leastAlive(), c.joinRetries.Load(), c.joinFailed.Load())
		case <-giveUp:
			return r, fmt.Errorf("scalesim: formation: after %v only %d of %d nodes see all %d alive", o.FormTimeout, c.nForm.Load(), o.N, o.N)
		}
	}
	r.Formation = time.Since(c.start)
	r.JoinRetries = c.joinRetries.Load()
	b1, _ := c.sent()
	r.FormBytes = float64(b1-b0) / float64(o.N) / r.Formation.Seconds()
	o.Progress("gossip: formed in %v; settling %v", r.Formation.Round(time.Millisecond), o.Settle)

	if o.Window > 0 {
		<-time.After(o.Settle)
		b0, p0 := c.sent()
		cpu0, t0 := cpuTime(), time.Now()
		<-time.After(o.Window)
		b1, p1 := c.sent()
		el := time.Since(t0).Seconds()
		r.SteadyBytes = float64(b1-b0) / float64(o.N) / el
		r.SteadyPackets = float64(p1-p0) / float64(o.N) / el
		r.SteadyCPU = (cpuTime() - cpu0).Seconds() / el
		o.Progress("gossip: steady %.0f B/s per node, %.2f cores", r.SteadyBytes, r.SteadyCPU)
	}

	victim := c.nodes[o.N/2]
	b0, _ = c.sent()
	killed := c.kill(victim)
	deadline := time.After(o.DetTimeout)
	for len(r.Detect) < o.N-1 {
		select {
		case at := <-c.declared:
			r.Detect = append(r.Detect, at.Sub(killed))
		case <-deadline:
			return r, fmt.Errorf("scalesim: detection: after %v only %d of %d survivors declared %s dead", o.DetTimeout, len(r.Detect), o.N-1, victim.name)
		}
	}
	b1, _ = c.sent()
	sort.Slice(r.Detect, func(i, j int) bool { return r.Detect[i] < r.Detect[j] })
	last := r.Detect[len(r.Detect)-1]
	r.DetectBytes = float64(b1-b0) / float64(o.N-1) / last.Seconds()
	r.FirstSuspect = time.Duration(c.logs.firstSuspect.Load())
	r.FalseDead = c.falseDead.Load()
	r.Dropped, r.Warn, r.Err = c.net.dropped.Load(), c.logs.warns.Load(), c.logs.errs.Load()
	return r, nil
}

// pct is the q-quantile (0..1) of sorted ds, nearest rank.
func pct(ds []time.Duration, q float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	i := int(q*float64(len(ds))+0.999999) - 1
	return ds[min(max(i, 0), len(ds)-1)]
}
