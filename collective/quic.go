package collective

import (
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"github.com/quic-go/quic-go"
)

// The quic transport: one QUIC connection per directed link (the sender
// dials), its messages spread round-robin over StreamsPerHop unidirectional
// streams, each message an 8-byte length and the payload. Both sides present
// certificates issued by the cluster CA (mutual TLS 1.3). A rank's abort
// closes its connections with quicAbortCode; a peer seeing that code aborts
// too and passes it on, so an abort floods the ring in milliseconds.

const (
	quicALPN        = "bloom-collective/1"
	quicAbortCode   = quic.ApplicationErrorCode(0xab)
	quicLeaveCode   = quic.ApplicationErrorCode(0)
	quicHeaderLen   = 32
	quicStreamData  = 'D'
	quicStreamHello = 'H'
	defaultSrvName  = "bloom-collective"
)

// quicEndpoint is a rank's listening socket and, once started, its links.
type quicEndpoint struct {
	cfg       Config
	id        [16]byte
	udp       *net.UDPConn
	tr        *quic.Transport
	ln        *quic.Listener
	srvTLS    *tls.Config
	cliTLS    *tls.Config
	qconf     *quic.Config
	bgCtx     context.Context // ends at close: stops the accept loops
	bgCancel  context.CancelFunc
	wg        sync.WaitGroup // accept loop, per-connection loops
	hellos    chan hello
	commID    [16]byte
	rank      int
	addrs     []string
	mu        sync.Mutex
	conns     []*quic.Conn
	out       map[int][]*quic.SendStream
	in        map[int][]*quic.ReceiveStream
	inID      map[int][16]byte // the communicator each src's streams belong to
	changed   chan struct{}    // closed and replaced when in changes
	links     map[int]*quicLink
	dialed    map[*quic.Conn]bool // connections this rank opened
	abortC    chan struct{}
	abortOnce sync.Once
	cause     error
	closed    bool
}

type hello struct {
	rank, size int
	host, addr string
	conn       *quic.Conn
}

// listenUDP opens the socket on ListenAddr, or takes the one a test
// handed over.
func listenUDP(cfg Config) (*net.UDPConn, error) {
	if cfg.listenConn != nil {
		return cfg.listenConn, nil
	}
	ua, err := net.ResolveUDPAddr("udp", cfg.ListenAddr)
	if err != nil {
		return nil, fmt.Errorf("collective: quic: listen address %q: %w", cfg.ListenAddr, err)
	}
	udp, err := net.ListenUDP("udp", ua)
	if err != nil {
		return nil, fmt.Errorf("collective: quic: %w", err)
	}
	return udp, nil
}

func listenQUIC(cfg Config, id [16]byte) (*quicEndpoint, error) {
	udp, err := listenUDP(cfg)
	if err != nil {
		return nil, err
	}
	e := &quicEndpoint{cfg: cfg, id: id, udp: udp, hellos: make(chan hello, 64),
		out: map[int][]*quic.SendStream{}, in: map[int][]*quic.ReceiveStream{}, inID: map[int][16]byte{}, links: map[int]*quicLink{},
		dialed: map[*quic.Conn]bool{}, changed: make(chan struct{}), abortC: make(chan struct{})}
	e.srvTLS = cfg.TLS.Clone()
	e.srvTLS.ClientCAs = cfg.TLS.RootCAs
	e.srvTLS.ClientAuth = tls.RequireAndVerifyClientCert
	e.srvTLS.NextProtos = []string{quicALPN}
	e.srvTLS.MinVersion = tls.VersionTLS13
	e.cliTLS = cfg.TLS.Clone()
	e.cliTLS.NextProtos = []string{quicALPN}
	e.cliTLS.MinVersion = tls.VersionTLS13
	if e.cliTLS.ServerName == "" {
		e.cliTLS.ServerName = defaultSrvName
	}
	w := uint64(cfg.StreamWindow)
	e.qconf = &quic.Config{
		HandshakeIdleTimeout:           min(cfg.ConnectTimeout, 30*time.Second),
		MaxIdleTimeout:                 cfg.PeerTimeout,
		KeepAlivePeriod:                cfg.PeerTimeout / 3,
		InitialStreamReceiveWindow:     w,
		MaxStreamReceiveWindow:         w,
		InitialConnectionReceiveWindow: w * uint64(cfg.StreamsPerHop),
		MaxConnectionReceiveWindow:     w * uint64(cfg.StreamsPerHop),
		MaxIncomingUniStreams:          256,
		MaxIncomingStreams:             1,
	}
	e.tr = &quic.Transport{Conn: packetConn(udp)}
	e.ln, err = e.tr.Listen(e.srvTLS, e.qconf)
	if err != nil {
		udp.Close()
		return nil, fmt.Errorf("collective: quic: %w", err)
	}
	e.bgCtx, e.bgCancel = context.WithCancel(context.Background())
	e.wg.Add(1)
	go e.acceptLoop() // owned by e: stopped by close
	return e, nil
}

func (e *quicEndpoint) addr() string { return e.udp.LocalAddr().String() }

func (e *quicEndpoint) acceptLoop() {
	defer e.wg.Done()
	for {
		conn, err := e.ln.Accept(e.bgCtx)
		if err != nil {
			return
		}
		if !e.track(conn) {
			return
		}
		e.wg.Add(1)
		go e.serveConn(conn) // owned by e: ends when conn closes
	}
}

// track remembers conn so that abort and close reach it; false once closed.
func (e *quicEndpoint) track(conn *quic.Conn) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		conn.CloseWithError(quicLeaveCode, "closed")
		return false
	}
	e.conns = append(e.conns, conn)
	select {
	case <-e.abortC:
		conn.CloseWithError(quicAbortCode, "aborted")
	default:
	}
	return true
}

// serveConn accepts a connection's streams and files them by kind.
func (e *quicEndpoint) serveConn(conn *quic.Conn) {
	defer e.wg.Done()
	defer e.watch(conn)
	for {
		s, err := conn.AcceptUniStream(e.bgCtx)
		if err != nil {
			return
		}
		var h [quicHeaderLen]byte
		s.SetReadDeadline(time.Now().Add(e.cfg.ConnectTimeout))
		if _, err := io.ReadFull(s, h[:]); err != nil {
			s.CancelRead(0)
			continue
		}
		s.SetReadDeadline(time.Time{})
		kind, src, idx := h[4], int(binary.BigEndian.Uint32(h[21:])), int(binary.BigEndian.Uint32(h[25:]))
		if string(h[:4]) != "BLMQ" {
			conn.CloseWithError(quicLeaveCode, "not a bloom collective peer")
			return
		}
		switch kind {
		case quicStreamHello:
			if hl, err := readHello(s); err == nil && [16]byte(h[5:21]) == e.id {
				hl.conn = conn
				select {
				case e.hellos <- hl:
				default:
				}
			}
		case quicStreamData:
			e.mu.Lock()
			// A peer may connect before this rank has learnt the
			// communicator's id from the root: keep the stream and its id.
			id := [16]byte(h[5:21])
			if (e.commID == [16]byte{} || id == e.commID) && idx < e.cfg.StreamsPerHop && src < 1<<16 {
				ss := e.in[src]
				if ss == nil || e.inID[src] != id {
					ss = make([]*quic.ReceiveStream, e.cfg.StreamsPerHop)
					e.in[src], e.inID[src] = ss, id
				}
				ss[idx] = s
				close(e.changed)
				e.changed = make(chan struct{})
			}
			e.mu.Unlock()
		}
	}
}

// watch turns a peer's abort (its connection closed with quicAbortCode)
// into ours, which passes it on; and so a lost peer (silent for
// PeerTimeout, or restarted: a stateless reset). An operation waiting on a
// peer it has no connection with yet — the tree's root on a child that
// died before it sent — would otherwise wait for OpTimeout: the ranks that
// are connected with the dead one notice and abort the rest.
func (e *quicEndpoint) watch(conn *quic.Conn) {
	<-conn.Context().Done()
	cause := context.Cause(conn.Context())
	var ae *quic.ApplicationError
	var idle *quic.IdleTimeoutError
	var reset *quic.StatelessResetError
	switch {
	case errors.As(cause, &ae) && ae.Remote && ae.ErrorCode == quicAbortCode:
		e.abort(fmt.Errorf("%w by a peer (%s)", ErrAborted, ae.ErrorMessage))
	case errors.As(cause, &idle) || errors.As(cause, &reset):
		e.mu.Lock()
		closed := e.closed
		e.mu.Unlock()
		if !closed {
			e.abort(fmt.Errorf("%w: the peer at %s (%v)", ErrPeerLost, conn.RemoteAddr(), cause))
		}
	}
}

// dial opens a connection to addr from a fresh UDP socket on this
// endpoint's IP (one socket per connection spreads the packet work).
func (e *quicEndpoint) dial(ctx context.Context, addr string) (*quic.Conn, error) {
	ra, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		return nil, fmt.Errorf("collective: quic: peer address %q: %w", addr, err)
	}
	la := &net.UDPAddr{IP: e.udp.LocalAddr().(*net.UDPAddr).IP}
	udp, err := net.ListenUDP("udp", la)
	if err != nil {
		return nil, fmt.Errorf("collective: quic: %w", err)
	}
	tr := &quic.Transport{Conn: packetConn(udp)}
	conn, err := tr.Dial(ctx, ra, e.cliTLS, e.qconf)
	if err != nil {
		tr.Close()
		udp.Close()
		return nil, fmt.Errorf("collective: quic: dial %s: %w", addr, err)
	}
	if !e.track(conn) {
		tr.Close()
		udp.Close()
		return nil, fmt.Errorf("collective: quic: %w", ErrClosed)
	}
	e.mu.Lock()
	e.dialed[conn] = true
	e.mu.Unlock()
	e.wg.Add(1)
	go func() { // owned by e: ends when conn closes
		defer e.wg.Done()
		e.watch(conn)
		tr.Close()
		udp.Close()
	}()
	return conn, nil
}

// start connects the ring (to the next rank, and waits for the previous
// one) so that an abort can flood it; other links connect on first use.
func (e *quicEndpoint) start(ctx context.Context, rank, size int) (*quicEndpoint, error) {
	if size > 1 {
		l, err := e.link((rank + 1) % size)
		if err == nil {
			err = l.(*quicLink).connect(ctx)
		}
		if err == nil {
			_, err = e.inStream(ctx, (rank+size-1)%size, e.cfg.StreamsPerHop-1)
		}
		if err != nil {
			e.close()
			return nil, fmt.Errorf("collective: quic: connecting the ring: %w", err)
		}
	}
	return e, nil
}

// inStream waits for stream idx from src to arrive.
func (e *quicEndpoint) inStream(ctx context.Context, src, idx int) (*quic.ReceiveStream, error) {
	for {
		e.mu.Lock()
		var s *quic.ReceiveStream
		if ss := e.in[src]; ss != nil && e.inID[src] == e.commID {
			s = ss[idx]
		}
		ch := e.changed
		e.mu.Unlock()
		if s != nil {
			return s, nil
		}
		select {
		case <-ch:
		case <-e.abortC:
			return nil, e.abortErr()
		case <-ctx.Done():
			return nil, ctxErr(ctx)
		}
	}
}

func (e *quicEndpoint) abortErr() error { return fmt.Errorf("collective: quic: %w", e.cause) }

func (e *quicEndpoint) link(peer int) (link, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return nil, fmt.Errorf("collective: quic: %w", ErrClosed)
	}
	if peer < 0 || peer >= len(e.addrs) || peer == e.rank {
		return nil, fmt.Errorf("collective: quic: no link from rank %d to %d", e.rank, peer)
	}
	l := e.links[peer]
	if l == nil {
		l = &quicLink{e: e, peer: peer, hdr: make([]byte, 8), rhdr: make([]byte, 8)}
		e.links[peer] = l
	}
	return l, nil
}

func (e *quicEndpoint) abort(cause error) {
	e.abortOnce.Do(func() {
		e.mu.Lock()
		e.cause = cause
		close(e.abortC)
		conns := append([]*quic.Conn(nil), e.conns...)
		e.mu.Unlock()
		for _, c := range conns {
			c.CloseWithError(quicAbortCode, cause.Error())
		}
	})
}

// close leaves gracefully. Send returns once QUIC has taken the data, not
// once the peer has it, so closing our outgoing connections at once could
// drop the last messages of the last operation. Instead we close the
// connections we receive on (we have everything we need: our operations
// are over), and wait — up to PeerTimeout — for the receivers of our
// outgoing connections to do the same.
func (e *quicEndpoint) close() error {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return nil
	}
	e.closed = true
	conns := append([]*quic.Conn(nil), e.conns...)
	dialed := e.dialed
	e.mu.Unlock()
	var outgoing []*quic.Conn
	for _, c := range conns {
		if dialed[c] {
			outgoing = append(outgoing, c)
			continue
		}
		c.CloseWithError(quicLeaveCode, "closed")
	}
	timeout := time.NewTimer(e.cfg.PeerTimeout)
	defer timeout.Stop()
	for _, c := range outgoing {
		select {
		case <-c.Context().Done():
		case <-e.abortC:
		case <-timeout.C:
		}
		c.CloseWithError(quicLeaveCode, "closed")
	}
	e.bgCancel()
	e.ln.Close()
	e.tr.Close()
	e.udp.Close()
	e.wg.Wait()
	return nil
}

// crash drops the endpoint without telling anyone, as a killed process
// would (tests).
func (e *quicEndpoint) crash() {
	e.mu.Lock()
	e.closed = true
	e.mu.Unlock()
	e.bgCancel()
	e.udp.Close()
	e.tr.Close()
}
