package daemon

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"

	"bloom/api"
	"bloom/daemon/coord"
	"bloom/daemon/identity"
	"bloom/daemon/supervisor"
	"bloom/daemon/xfer"
	"bloom/membership"
)

// Daemon is one running bloomd: gossip, Raft, the API. Start makes one;
// Stop (graceful) or Kill (a crash, for tests) ends it.
type Daemon struct {
	cfg      Config
	submitMu sync.Mutex // a submit's checks and its commit, one submit at a time
	log      *slog.Logger
	dir      *dataDir
	id       *identity.Identity
	fsm      *fsm
	raft     *raftNode
	ml       *membership.Membership
	mux      *mux
	http     *http.Server
	apiAddr  string // advertised API (and Raft) address
	nonce    string // random per process; makes the bootstrap cluster id unique
	started  time.Time
	metrics  *metrics
	paths    jobPaths               // where jobs live in the data dir
	sup      *supervisor.Supervisor // this node's workers
	jobs     *jobs                  // the leader's side: the scheduler and what it decides
	wake     chan struct{}          // pokes the jobs goroutine
	xfer     *xfer.Endpoint         // checkpoint files to and from peers, over QUIC
	xferAdv  string
	retired  *retired   // retention's step directories to delete
	copies   *logCopies // copies of other nodes' rank logs (logcopy.go)

	stop        chan struct{}
	restart     chan struct{} // closed when a rolling restart asks for one
	restartOnce sync.Once
	leaderCh    chan struct{} // raft leadership changed (signal, never blocks raft)
	wg          sync.WaitGroup
	closed      atomic.Bool

	// Owned by the main loop.
	leaderReady  atomic.Bool
	leaderSince  time.Time
	bootstrapped bool
	announced    time.Time            // when the bootstrap proposal was last gossiped
	healthy      map[string]time.Time // non-voter → healthy since
	savedPeers   string               // the peers last recorded in the data dir
	lastRecon    time.Time

	mu      sync.Mutex
	failing map[string]bool           // peers the leader fails to heartbeat (observer)
	devices map[string]api.DeviceInfo // this node's devices as last probed (devices.go)
	fwd     *http.Client              // forwards writes to the leader
}

// Start opens the data dir, starts Raft, the API and gossip, and joins
// through cfg.Peers, retrying until one answers or JoinTimeout passes.
func Start(cfg Config) (_ *Daemon, err error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	log = log.With("node", cfg.Name)
	d := &Daemon{cfg: cfg, log: log, stop: make(chan struct{}), restart: make(chan struct{}), leaderCh: make(chan struct{}, 1), wake: make(chan struct{}, 1),
		healthy: map[string]time.Time{}, failing: map[string]bool{}, fsm: newFSM(), metrics: newMetrics(), retired: newRetired(),
		paths: jobPaths{dataDir: cfg.DataDir}, copies: &logCopies{bound: cfg.Jobs.LogCopyBytes}}
	d.fsm.applied = d.onApply // before Raft replays its log
	var nonce [4]byte
	rand.Read(nonce[:])
	d.nonce, d.started = hex.EncodeToString(nonce[:]), time.Now()

	var cleanup []func()
	defer func() {
		if err != nil {
			for i := len(cleanup) - 1; i >= 0; i-- {
				cleanup[i]()
			}
		}
	}()
	if d.dir, err = openDataDir(cfg.DataDir, cfg.Name, cfg.Secret); err != nil {
		return nil, err
	}
	cleanup = append(cleanup, func() { d.dir.close() })
	if d.id, err = identity.New(cfg.Secret, cfg.Name); err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", cfg.API)
	if err != nil {
		return nil, fmt.Errorf("daemon: --api %s: %w (is another bloomd, or something else, using the port?)", cfg.API, err)
	}
	if d.apiAddr, err = advertised(ln.Addr().String(), cfg.Advertise, cfg.Bind); err != nil {
		ln.Close()
		return nil, err
	}
	adv, _ := net.ResolveTCPAddr("tcp", d.apiAddr)
	d.mux = newMux(ln, d.id.ServerTLS(), adv, log)
	cleanup = append(cleanup, d.mux.close)

	if d.xfer, d.xferAdv, err = d.startXfer(ln.Addr().String()); err != nil {
		return nil, err
	}
	cleanup = append(cleanup, func() { d.xfer.Close() })

	layer := newRaftLayer(d.mux.raft, d.id.ClientTLS(identity.ALPNRaft))
	if d.raft, err = startRaft(&d.cfg, d.dir, d.fsm, layer, log); err != nil {
		return nil, err
	}
	cleanup = append(cleanup, func() { d.raft.shutdown() })
	if d.ml, err = membership.New(d.gossipConfig()); err != nil {
		return nil, fmt.Errorf("daemon: --bind %s: %w", cfg.Bind, err)
	}
	cleanup = append(cleanup, func() { d.ml.Shutdown() })

	d.startJobs() // before the API serves its routes
	d.http = &http.Server{Handler: d.routes(), ReadHeaderTimeout: 5 * time.Second,
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelDebug)}
	d.goFn(func() { d.http.Serve(d.mux.http) })
	d.mux.start()
	d.goFn(d.drainNotify)
	d.goFn(d.watchObservations)
	d.goFn(d.loop)
	d.goFn(d.runJobs)
	d.goFn(d.shipLogs)
	d.goFn(d.probeLoop)
	d.goFn(d.deleteRetired)
	cleanup = []func(){func() { d.shutdown(false) }} // it undoes everything above

	if err := d.join(); err != nil {
		return nil, err
	}
	log.Info("bloomd started", "gossip", d.ml.Local().Addr, "api", d.apiAddr,
		"devices", cfg.Devices, "raft_state", d.raft.hasState, "cluster", d.clusterID())
	return d, nil
}

func (d *Daemon) goFn(fn func()) {
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		fn()
	}()
}

// advertised turns a listen address into one peers can dial: an
// unspecified host (0.0.0.0) takes the --advertise or --bind host.
func advertised(listen, advertise, bind string) (string, error) {
	h, p, _ := net.SplitHostPort(listen)
	if ip := net.ParseIP(h); ip != nil && !ip.IsUnspecified() {
		return listen, nil
	}
	for _, a := range []string{advertise, bind} {
		if ah, _, err := net.SplitHostPort(a); err == nil {
			if ip := net.ParseIP(ah); ip != nil && !ip.IsUnspecified() {
				return net.JoinHostPort(ah, p), nil
			}
		}
	}
	return "", fmt.Errorf("daemon: --api %s listens on every address: pass --advertise HOST:PORT so peers know which to dial", listen)
}

func (d *Daemon) gossipConfig() membership.Config {
	g := d.cfg.Gossip
	g.Name = d.cfg.Name
	h, p, _ := net.SplitHostPort(d.cfg.Bind)
	g.BindAddr = h
	g.BindPort, _ = strconv.Atoi(p)
	if d.cfg.Advertise != "" {
		ah, ap, _ := net.SplitHostPort(d.cfg.Advertise)
		g.AdvertiseAddr = ah
		g.AdvertisePort, _ = strconv.Atoi(ap)
	}
	g.Key = d.cfg.Secret.GossipKey()
	g.Meta = membership.NodeMeta{Name: d.cfg.Name, API: d.apiAddr, Raft: d.apiAddr, Devices: d.cfg.Devices, DeviceIPs: d.cfg.DeviceIPs,
		Version: d.cfg.Version, Cluster: d.clusterID(), State: d.raft.hasState, Nonce: d.nonce, QUIC: d.xferAdv}
	// The NPUs' addresses go only if every later update still fits
	// memberlist's metadata limit with them; without them a rank table
	// across nodes is not written (the warning says why), the node runs.
	if err := g.Meta.FitsWhenFull(); err != nil && g.Meta.DeviceIPs != "" {
		g.Meta.DeviceIPs = ""
		if g.Meta.FitsWhenFull() == nil {
			d.log.Warn("this node's NPU addresses (device_ip) do not fit its gossip metadata: left out, so NPU jobs across nodes get no HCCL rank table",
				"device_ips", d.cfg.DeviceIPs, "err", err)
		}
	}
	g.Accept = d.accept
	g.Logger = quiet(d.log) // memberlist logs every packet a foreign node sends
	return g
}

// accept keeps nodes of another cluster out of our gossip (and us out of theirs).
func (d *Daemon) accept(p membership.NodeMeta) error {
	mine := d.clusterID()
	if p.Cluster != "" && mine != "" && p.Cluster != mine {
		return fmt.Errorf("node %s is in cluster %s but this node's data dir belongs to cluster %s: "+
			"a data dir joins only the cluster that made it (use a fresh --data-dir)", p.Name, p.Cluster, mine)
	}
	return nil
}

func (d *Daemon) clusterID() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.dir.node.Cluster
}

// join retries cfg.Peers (less this node's own address) until one answers.
func (d *Daemon) join() error {
	self := d.ml.Local().Addr
	var peers []string
	for _, p := range d.cfg.Peers {
		if p != self && p != d.cfg.Bind && p != d.cfg.Advertise {
			peers = append(peers, p)
		}
	}
	if len(peers) == 0 {
		// A node started without --peers (the first one) that was in a
		// cluster before finds the others again through the addresses it
		// recorded, in the background: they may still be down.
		if saved := d.dir.loadPeers(); len(saved) > 0 {
			d.goFn(func() { d.rejoin(saved) })
		}
		return nil
	}
	deadline := time.Now().Add(d.cfg.JoinTimeout)
	for {
		n, err := d.ml.Join(peers)
		if err == nil {
			d.log.Info("joined the cluster", "peers_answered", n)
			return nil
		}
		if errors.Is(err, membership.ErrRejected) || time.Now().After(deadline) {
			return fmt.Errorf("daemon: could not join through --peers within %v: %w", d.cfg.JoinTimeout, err)
		}
		d.log.Warn("join failed, retrying", "err", err)
		select {
		case <-d.stop:
			return errors.New("daemon: stopped while joining")
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// rejoin joins through the recorded peers until one answers, another node
// finds this one first, or the daemon stops.
func (d *Daemon) rejoin(peers []string) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for len(d.ml.Members()) <= 1 {
		if n, err := d.ml.Join(peers); err == nil {
			d.log.Info("rejoined through the peers recorded in the data dir", "peers_answered", n)
			return
		}
		select {
		case <-d.stop:
			return
		case <-t.C:
		}
	}
}

// Stop leaves gracefully: a leader first hands leadership to another voter,
// then the node tells gossip it is leaving, then everything stops.
func (d *Daemon) Stop() error { return d.shutdown(true) }

// Kill stops at once, without leadership transfer or leave: to the others
// it looks like a crash. The data dir is intact for a restart.
func (d *Daemon) Kill() error { return d.shutdown(false) }

func (d *Daemon) shutdown(graceful bool) error {
	if d.closed.Swap(true) {
		return nil
	}
	if graceful {
		if d.raft.State() == raft.Leader {
			start := time.Now()
			err := d.raft.LeadershipTransfer().Error()
			d.log.Info("leadership transfer before stop", "err", err, "took", time.Since(start))
		}
		if err := d.ml.Leave(2 * time.Second); err != nil {
			d.log.Warn("gossip leave", "err", err)
		}
	}
	close(d.stop)
	if d.sup != nil {
		d.sup.StopAll(!graceful) // workers end before the daemon does
	}
	errXfer := d.xfer.Close()
	errRaft := d.raft.shutdown()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	errHTTP := d.http.Shutdown(ctx)
	if errors.Is(errHTTP, context.DeadlineExceeded) {
		// A client still holds a request open (a watch, a forwarded
		// call): the stop must not wait on it, nor fail for it, or a
		// rolling restart would leave the node down.
		d.log.Warn("API requests still open 2s into the stop: closing them")
		errHTTP = d.http.Close()
	}
	errML := d.ml.Shutdown()
	d.mu.Lock()
	if d.fwd != nil {
		d.fwd.CloseIdleConnections()
	}
	d.mu.Unlock()
	d.mux.close()
	d.wg.Wait()
	err := errors.Join(errRaft, errHTTP, errML, errXfer, d.dir.close())
	d.log.Info("bloomd stopped", "graceful", graceful, "err", err)
	return err
}

// Name is the node's name.
func (d *Daemon) Name() string { return d.cfg.Name }

// APIAddr is the advertised API (and Raft) address.
func (d *Daemon) APIAddr() string { return d.apiAddr }

// GossipAddr is the gossip address peers join through.
func (d *Daemon) GossipAddr() string { return d.ml.Local().Addr }

// IsLeader reports whether this node leads and has caught up (Barrier done).
func (d *Daemon) IsLeader() bool { return d.leaderReady.Load() && d.raft.State() == raft.Leader }

// Identity is the node's TLS identity (the QUIC data plane will use it too).
func (d *Daemon) Identity() *identity.Identity { return d.id }

// Apply proposes cmd through Raft; only the leader can. It returns the
// state machine's verdict.
func (d *Daemon) Apply(cmd coord.Command) error {
	b, err := coord.Encode(cmd)
	if err != nil {
		return err
	}
	start := time.Now()
	f := d.raft.Apply(b, d.cfg.ApplyTimeout)
	// Raft can leave a future unanswered when it shuts down while the
	// entry is queued (a CI run's stack dump: the loop's Apply waiting 10
	// minutes in logFuture.Error, Kill waiting on the loop): a stopping
	// node stops waiting for it.
	errc := make(chan error, 1)
	go func() { errc <- f.Error() }()
	select {
	case err := <-errc:
		if err != nil {
			return fmt.Errorf("daemon: raft apply: %w", err)
		}
	case <-d.stop:
		return fmt.Errorf("daemon: raft apply: %w", raft.ErrRaftShutdown)
	}
	d.metrics.observeApply(time.Since(start))
	if res, ok := f.Response().(coord.Result); ok && res.Err != nil {
		return res.Err
	}
	return nil
}

// State returns a copy of the replicated state as this node has applied it.
func (d *Daemon) State() *coord.State {
	var s *coord.State
	d.fsm.read(func(st *coord.State) { s = st.Clone() })
	return s
}
