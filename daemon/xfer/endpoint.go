package xfer

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

const (
	alpn = "bloom-ckpt/1" // the ALPN of a transfer connection

	maxSize          = 1 << 40 // largest file either side accepts (1 TiB)
	handshakeTimeout = 10 * time.Second
	idleTimeout      = 30 * time.Second // a transfer that moves nothing this long fails
	// Flow-control windows: the initial ones cover a 10 Gb/s link at 6 ms
	// round trip; quic-go grows them up to the maximum as the link needs.
	streamWindow    = 8 << 20
	maxStreamWindow = 32 << 20
)

// QUIC error codes.
const (
	connDone     = quic.ApplicationErrorCode(0)
	connCanceled = quic.ApplicationErrorCode(1) // the client's ctx ended or its source failed
	connShutdown = quic.ApplicationErrorCode(2) // Close
	streamFailed = quic.StreamErrorCode(1)      // this side gave up the stream
)

// Stats describes one finished transfer.
type Stats struct {
	Bytes    int64         // the file's size: bytes on disk
	Wire     int64         // compressed body bytes on the stream (headers and QUIC/TLS framing not counted)
	Skipped  bool          // Push only: the peer already held the file, with this size and SHA-256; Wire is 0
	Duration time.Duration // from dialing to the peer's last word
}

// Endpoint is a node's checkpoint-file transfer service: a QUIC listener that
// serves pushes and pulls, and the client side (Push, Pull). Its goroutines
// (the accept loop, one per connection, one per stream) stop at Close.
type Endpoint struct {
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

// Listen listens on bind (host:port, port 0 picks one) for QUIC with
// mutual TLS from id. root maps a job ID to that job's checkpoint root on
// this node; ok=false refuses the job. log may be nil.
func Listen(id *identity.Identity, bind string, root func(job string) (string, bool), log *slog.Logger) (*Endpoint, error) {
	return listenWith(id, bind, root, log, openFile)
}

// listenWith is Listen reading the files it sends with open.
func listenWith(id *identity.Identity, bind string, root func(job string) (string, bool), log *slog.Logger,
	open func(name string) (io.ReadCloser, error)) (*Endpoint, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ua, err := net.ResolveUDPAddr("udp", bind)
	if err != nil {
		return nil, fmt.Errorf("xfer: bind address %q: %w", bind, err)
	}
	udp, err := net.ListenUDP("udp", ua)
	if err != nil {
		return nil, fmt.Errorf("xfer: %w", err)
	}
	srvTLS := id.ServerTLS()
	srvTLS.NextProtos = []string{alpn}
	srvTLS.ClientAuth = tls.RequireAndVerifyClientCert
	x := &Endpoint{log: log.With("component", "xfer"), root: root, udp: udp, tr: &quic.Transport{Conn: udp},
		cliTLS: id.ClientTLS(alpn), qconf: quicConfig(), open: open, conns: map[*quic.Conn]struct{}{}}
	x.ln, err = x.tr.Listen(srvTLS, x.qconf)
	if err != nil {
		x.tr.Close()
		udp.Close()
		return nil, fmt.Errorf("xfer: %w", err)
	}
	x.ctx, x.cancel = context.WithCancel(context.Background())
	x.wg.Add(1)
	go x.acceptLoop() // owned by x: stopped by Close
	return x, nil
}

func quicConfig() *quic.Config {
	return &quic.Config{
		HandshakeIdleTimeout:           handshakeTimeout,
		MaxIdleTimeout:                 idleTimeout,
		KeepAlivePeriod:                idleTimeout / 3,
		InitialStreamReceiveWindow:     streamWindow,
		MaxStreamReceiveWindow:         maxStreamWindow,
		InitialConnectionReceiveWindow: streamWindow * 2,
		MaxConnectionReceiveWindow:     maxStreamWindow * 2,
		MaxIncomingStreams:             4,
		MaxIncomingUniStreams:          -1,
	}
}

func openFile(name string) (io.ReadCloser, error) { return os.Open(name) }

// Addr is the bound UDP address, host:port: what the node advertises.
func (x *Endpoint) Addr() string { return x.udp.LocalAddr().String() }

// Close closes every connection (transfers in flight fail), stops the
// listener and waits for every goroutine x started.
func (x *Endpoint) Close() error {
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
		c.CloseWithError(connShutdown, "node shutting down")
	}
	x.ln.Close()
	x.tr.Close()
	x.udp.Close()
	x.wg.Wait()
	return nil
}

// track remembers conn so that Close reaches it; false once closed.
func (x *Endpoint) track(conn *quic.Conn) bool {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.closed {
		conn.CloseWithError(connShutdown, "node shutting down")
		return false
	}
	x.conns[conn] = struct{}{}
	return true
}

func (x *Endpoint) isClosed() bool {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.closed
}

func (x *Endpoint) untrack(conn *quic.Conn) {
	x.mu.Lock()
	delete(x.conns, conn)
	x.mu.Unlock()
}

func (x *Endpoint) acceptLoop() {
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
func (x *Endpoint) serveConn(conn *quic.Conn) {
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
			x.serveStream(newStream(s), conn.RemoteAddr().String())
		}()
	}
}
