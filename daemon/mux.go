package daemon

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/hashicorp/raft"

	"bloom/daemon/identity"
)

// handshakeTimeout bounds a TLS handshake on the API port.
const handshakeTimeout = 10 * time.Second

// mux owns the API port's TCP listener: it completes each TLS handshake and
// hands the connection to Raft (ALPN bloom-raft/1, client certificate
// required) or to the HTTP server (anything else).
type mux struct {
	ln     net.Listener
	tlsCfg *tls.Config
	raft   *chanListener
	http   *chanListener
	log    *slog.Logger
	wg     sync.WaitGroup
}

func newMux(ln net.Listener, tlsCfg *tls.Config, advertise net.Addr, log *slog.Logger) *mux {
	return &mux{ln: ln, tlsCfg: tlsCfg, log: log,
		raft: newChanListener(advertise), http: newChanListener(ln.Addr())}
}

// serve accepts until close; it runs in its own goroutine, owned by the daemon.
func (m *mux) serve() {
	defer m.wg.Done()
	for {
		c, err := m.ln.Accept()
		if err != nil {
			return
		}
		m.wg.Add(1)
		go m.handshake(c)
	}
}

func (m *mux) start() {
	m.wg.Add(1)
	go m.serve()
}

func (m *mux) handshake(c net.Conn) {
	defer m.wg.Done()
	tc := tls.Server(c, m.tlsCfg)
	ctx, cancel := context.WithTimeout(context.Background(), handshakeTimeout)
	defer cancel()
	if err := tc.HandshakeContext(ctx); err != nil {
		m.log.Debug("TLS handshake refused", "remote", c.RemoteAddr().String(), "err", err)
		c.Close()
		return
	}
	st := tc.ConnectionState()
	target := m.http
	if st.NegotiatedProtocol == identity.ALPNRaft {
		if len(st.VerifiedChains) == 0 {
			m.log.Warn("raft connection without a cluster certificate refused", "remote", c.RemoteAddr().String())
			c.Close()
			return
		}
		target = m.raft
	}
	if !target.deliver(tc) {
		c.Close()
	}
}

// close stops accepting and waits for in-flight handshakes; the two
// listeners it feeds are closed by their owners (raft, http server) and
// here as well.
func (m *mux) close() {
	m.ln.Close()
	m.raft.Close()
	m.http.Close()
	m.wg.Wait()
}

// chanListener is a net.Listener fed by the mux.
type chanListener struct {
	addr   net.Addr
	ch     chan net.Conn
	done   chan struct{}
	closer sync.Once
}

func newChanListener(addr net.Addr) *chanListener {
	return &chanListener{addr: addr, ch: make(chan net.Conn), done: make(chan struct{})}
}

var errListenerClosed = errors.New("daemon: listener closed")

func (l *chanListener) deliver(c net.Conn) bool {
	select {
	case l.ch <- c:
		return true
	case <-l.done:
		return false
	}
}

func (l *chanListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.ch:
		return c, nil
	case <-l.done:
		return nil, errListenerClosed
	}
}

func (l *chanListener) Close() error {
	l.closer.Do(func() { close(l.done) })
	return nil
}

func (l *chanListener) Addr() net.Addr { return l.addr }

// raftLayer is raft's StreamLayer over the mux: accepted connections come
// from the mux, dialled ones use mutual TLS with ALPN bloom-raft/1. It
// tracks every connection, because raft's NetworkTransport.Close leaves its
// pooled and accepted connections open (and their goroutines blocked).
type raftLayer struct {
	*chanListener
	dialTLS *tls.Config

	mu    sync.Mutex
	conns map[*trackedConn]struct{}
}

var _ raft.StreamLayer = (*raftLayer)(nil)

func newRaftLayer(l *chanListener, dialTLS *tls.Config) *raftLayer {
	return &raftLayer{chanListener: l, dialTLS: dialTLS, conns: map[*trackedConn]struct{}{}}
}

type trackedConn struct {
	net.Conn
	l *raftLayer
}

func (c *trackedConn) Close() error {
	c.l.mu.Lock()
	delete(c.l.conns, c)
	c.l.mu.Unlock()
	return c.Conn.Close()
}

func (l *raftLayer) track(c net.Conn) net.Conn {
	t := &trackedConn{Conn: c, l: l}
	l.mu.Lock()
	l.conns[t] = struct{}{}
	l.mu.Unlock()
	return t
}

func (l *raftLayer) Accept() (net.Conn, error) {
	c, err := l.chanListener.Accept()
	if err != nil {
		return nil, err
	}
	return l.track(c), nil
}

// closeConns closes every connection still open; call after raft's shutdown.
func (l *raftLayer) closeConns() {
	l.mu.Lock()
	conns := make([]*trackedConn, 0, len(l.conns))
	for c := range l.conns {
		conns = append(conns, c)
	}
	l.mu.Unlock()
	for _, c := range conns {
		c.Close()
	}
}

func (l *raftLayer) Dial(addr raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	d := &tls.Dialer{NetDialer: &net.Dialer{Timeout: timeout}, Config: l.dialTLS}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	c, err := d.DialContext(ctx, "tcp", string(addr))
	if err != nil {
		return nil, fmt.Errorf("daemon: raft dial %s: %w", addr, err)
	}
	if p := c.(*tls.Conn).ConnectionState().NegotiatedProtocol; p != identity.ALPNRaft {
		c.Close()
		return nil, fmt.Errorf("daemon: raft dial %s: peer speaks %q, not %s", addr, p, identity.ALPNRaft)
	}
	return l.track(c), nil
}
