package daemon

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"sync"
	"time"

	"github.com/quic-go/quic-go"

	"bloom/daemon/identity"
)

// Checkpoint-file transfer (DESIGN.md §9): a node pushes each shard it
// wrote to a peer before the checkpoint is committed, and a node resuming
// a job pulls the shards (and manifest.json) it lacks. One QUIC stream per
// transfer, mutual TLS from the cluster identity, ALPN alpnCkpt:
//
//	client → header frame (xferRequest)
//	push:  server → reply frame (go ahead, or Have: nothing to send)
//	       client → zstd body, FIN;  server → verdict frame once durable
//	pull:  client FIN;  server → reply frame (Size), zstd body, FIN
//
// A frame is a 2-byte length and at most xferMaxFrame bytes of JSON. The
// receiver checks size and SHA-256 of the uncompressed bytes and writes to
// a unique temporary name in the target directory, fsyncs, renames and
// fsyncs the directory: the final name only ever holds a whole, checked file.
//
// Each transfer dials its own connection. A transfer moves megabytes to
// gigabytes; a handshake costs one round trip and two ed25519 signatures,
// so a connection cache would save nothing measurable while needing
// eviction of dead connections. A connection of its own also gives each
// transfer its own flow-control window and congestion controller, and
// cancelling a transfer closes just that connection.
//
// Usage:
//
//	x, err := startXfer(id, "10.0.0.1:0", jobRoot, log) // advertise x.Addr()
//	defer x.Close()
//	st, err := x.Push(ctx, peerAddr, job, "iter_0000010/mp_rank_00_000.safetensors", path, sha, size)

const (
	alpnCkpt = "bloom-ckpt/1"

	xferMaxSize          = 1 << 40 // largest file either side accepts (1 TiB)
	xferHandshakeTimeout = 10 * time.Second
	xferIdleTimeout      = 30 * time.Second // a transfer that moves nothing this long fails
	// Flow-control windows: the initial ones cover a 10 Gb/s link at 6 ms
	// round trip; quic-go grows them up to the maximum as the link needs.
	xferStreamWindow    = 8 << 20
	xferMaxStreamWindow = 32 << 20
)

// QUIC error codes.
const (
	xferConnDone     = quic.ApplicationErrorCode(0)
	xferConnCanceled = quic.ApplicationErrorCode(1) // the client's ctx ended or its source failed
	xferConnShutdown = quic.ApplicationErrorCode(2) // Close
	xferStreamFailed = quic.StreamErrorCode(1)      // this side gave up the stream
)

// xferStats describes one finished transfer.
type xferStats struct {
	Bytes    int64         // the file's size: bytes on disk
	Wire     int64         // compressed body bytes on the stream (headers and QUIC/TLS framing not counted)
	Skipped  bool          // Push only: the peer already held the file, with this size and SHA-256; Wire is 0
	Duration time.Duration // from dialing to the peer's last word
}

// Throughput is file bytes per second (0 for an instant transfer).
func (s xferStats) Throughput() float64 {
	if s.Duration <= 0 {
		return 0
	}
	return float64(s.Bytes) / s.Duration.Seconds()
}

// xfer is a node's checkpoint-file transfer service: a QUIC listener that
// serves pushes and pulls, and the client side (Push, Pull). Its goroutines
// (the accept loop, one per connection, one per stream) stop at Close.
type xfer struct {
	log    *slog.Logger
	root   func(job string) (string, bool)
	udp    *net.UDPConn
	tr     *quic.Transport
	ln     *quic.Listener
	cliTLS *tls.Config
	qconf  *quic.Config
	// open reads a file to send (os.Open; tests stall it mid-file).
	open   func(name string) (io.ReadCloser, error)
	ctx    context.Context // ends at Close: stops the accept loops
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu     sync.Mutex
	conns  map[*quic.Conn]struct{} // open connections, both directions
	closed bool
}

// startXfer listens on bind (host:port, port 0 picks one) for QUIC with
// mutual TLS from id. root maps a job ID to that job's checkpoint root on
// this node; ok=false refuses the job. log may be nil.
func startXfer(id *identity.Identity, bind string, root func(job string) (string, bool), log *slog.Logger) (*xfer, error) {
	return startXferWith(id, bind, root, log, xferOpenFile)
}

// startXferWith is startXfer reading the files it sends with open.
func startXferWith(id *identity.Identity, bind string, root func(job string) (string, bool), log *slog.Logger,
	open func(name string) (io.ReadCloser, error)) (*xfer, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ua, err := net.ResolveUDPAddr("udp", bind)
	if err != nil {
		return nil, fmt.Errorf("daemon: xfer: bind address %q: %w", bind, err)
	}
	udp, err := net.ListenUDP("udp", ua)
	if err != nil {
		return nil, fmt.Errorf("daemon: xfer: %w", err)
	}
	srvTLS := id.ServerTLS()
	srvTLS.NextProtos = []string{alpnCkpt}
	srvTLS.ClientAuth = tls.RequireAndVerifyClientCert
	x := &xfer{log: log.With("component", "xfer"), root: root, udp: udp, tr: &quic.Transport{Conn: udp},
		cliTLS: id.ClientTLS(alpnCkpt), qconf: xferQUICConfig(), open: open, conns: map[*quic.Conn]struct{}{}}
	x.ln, err = x.tr.Listen(srvTLS, x.qconf)
	if err != nil {
		x.tr.Close()
		udp.Close()
		return nil, fmt.Errorf("daemon: xfer: %w", err)
	}
	x.ctx, x.cancel = context.WithCancel(context.Background())
	x.wg.Add(1)
	go x.acceptLoop() // owned by x: stopped by Close
	return x, nil
}

func xferQUICConfig() *quic.Config {
	return &quic.Config{
		HandshakeIdleTimeout:           xferHandshakeTimeout,
		MaxIdleTimeout:                 xferIdleTimeout,
		KeepAlivePeriod:                xferIdleTimeout / 3,
		InitialStreamReceiveWindow:     xferStreamWindow,
		MaxStreamReceiveWindow:         xferMaxStreamWindow,
		InitialConnectionReceiveWindow: xferStreamWindow * 2,
		MaxConnectionReceiveWindow:     xferMaxStreamWindow * 2,
		MaxIncomingStreams:             4,
		MaxIncomingUniStreams:          -1,
	}
}

func xferOpenFile(name string) (io.ReadCloser, error) { return os.Open(name) }

// Addr is the bound UDP address, host:port: what the node advertises.
func (x *xfer) Addr() string { return x.udp.LocalAddr().String() }

// Close closes every connection (transfers in flight fail), stops the
// listener and waits for every goroutine x started.
func (x *xfer) Close() error {
	x.mu.Lock()
	if x.closed {
		x.mu.Unlock()
		return nil
	}
	x.closed = true
	conns := make([]*quic.Conn, 0, len(x.conns))
	for c := range x.conns {
		conns = append(conns, c)
	}
	x.mu.Unlock()
	x.cancel()
	for _, c := range conns {
		c.CloseWithError(xferConnShutdown, "node shutting down")
	}
	x.ln.Close()
	x.tr.Close()
	x.udp.Close()
	x.wg.Wait()
	return nil
}

// track remembers conn so that Close reaches it; false once closed.
func (x *xfer) track(conn *quic.Conn) bool {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.closed {
		conn.CloseWithError(xferConnShutdown, "node shutting down")
		return false
	}
	x.conns[conn] = struct{}{}
	return true
}

func (x *xfer) isClosed() bool {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.closed
}

func (x *xfer) untrack(conn *quic.Conn) {
	x.mu.Lock()
	delete(x.conns, conn)
	x.mu.Unlock()
}

func (x *xfer) acceptLoop() {
	defer x.wg.Done()
	for {
		conn, err := x.ln.Accept(x.ctx)
		if err != nil {
			return
		}
		if !x.track(conn) {
			return
		}
		x.wg.Add(1)
		go x.serveConn(conn) // owned by x: ends when conn closes
	}
}

// serveConn serves conn's streams until the client hangs up, the
// connection idles out, or Close.
func (x *xfer) serveConn(conn *quic.Conn) {
	defer x.wg.Done()
	defer x.untrack(conn)
	for {
		s, err := conn.AcceptStream(x.ctx)
		if err != nil {
			return
		}
		x.wg.Add(1)
		go func() { // owned by x: one transfer, bounded by the idle timeout
			defer x.wg.Done()
			x.serveStream(newXferStream(s), conn.RemoteAddr().String())
		}()
	}
}
