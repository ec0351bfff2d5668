package collective

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/quic-go/quic-go"
)

// quicLink is one peer. Message j goes on stream j mod StreamsPerHop.
type quicLink struct {
	e          *quicEndpoint
	peer       int
	sendSeq    int
	recvSeq    int
	hdr, rhdr  []byte
	connectMu  sync.Mutex
	out        []*quic.SendStream
	in         []*quic.ReceiveStream
	dialFailed error
}

// connect dials the peer and opens the streams (once).
func (l *quicLink) connect(ctx context.Context) error {
	l.connectMu.Lock()
	defer l.connectMu.Unlock()
	if l.out != nil {
		return nil
	}
	e := l.e
	e.mu.Lock()
	addr, id, rank := e.addrs[l.peer], e.commID, e.rank
	e.mu.Unlock()
	conn, err := e.dial(ctx, addr)
	if err != nil {
		return err
	}
	out := make([]*quic.SendStream, e.cfg.StreamsPerHop)
	for i := range out {
		s, err := conn.OpenUniStreamSync(ctx)
		if err != nil {
			return l.fail(ctx, err)
		}
		if _, err := s.Write(header(quicStreamData, id, rank, i)); err != nil {
			return l.fail(ctx, err)
		}
		out[i] = s
	}
	l.out = out
	return nil
}

func (l *quicLink) send(ctx context.Context, b []byte) error {
	if err := l.connect(ctx); err != nil {
		return err
	}
	s := l.out[l.sendSeq%len(l.out)]
	l.sendSeq++
	stop := context.AfterFunc(ctx, func() { s.SetWriteDeadline(time.Now()) })
	defer stop()
	binary.LittleEndian.PutUint64(l.hdr, uint64(len(b)))
	_, err := s.Write(l.hdr)
	if err == nil {
		_, err = s.Write(b)
	}
	if err != nil {
		return l.fail(ctx, err)
	}
	return nil
}

func (l *quicLink) recv(ctx context.Context, b []byte) error {
	if l.in == nil {
		l.in = make([]*quic.ReceiveStream, l.e.cfg.StreamsPerHop)
	}
	idx := l.recvSeq % len(l.in)
	if l.in[idx] == nil {
		s, err := l.e.inStream(ctx, l.peer, idx)
		if err != nil {
			return err
		}
		l.in[idx] = s
	}
	s := l.in[idx]
	l.recvSeq++
	stop := context.AfterFunc(ctx, func() { s.SetReadDeadline(time.Now()) })
	defer stop()
	if _, err := io.ReadFull(s, l.rhdr); err != nil {
		return l.fail(ctx, err)
	}
	if n := binary.LittleEndian.Uint64(l.rhdr); n != uint64(len(b)) {
		return fmt.Errorf("collective: quic: %d bytes from rank %d, expected %d: %w", n, l.peer, len(b), ErrMismatch)
	}
	if _, err := io.ReadFull(s, b); err != nil {
		return l.fail(ctx, err)
	}
	return nil
}

// fail classifies a stream error: our abort, the peer's abort, our deadline,
// or a lost peer.
func (l *quicLink) fail(ctx context.Context, err error) error {
	select {
	case <-l.e.abortC:
		return l.e.abortErr()
	default:
	}
	var ae *quic.ApplicationError
	if errors.As(err, &ae) && ae.ErrorCode == quicAbortCode {
		return fmt.Errorf("collective: quic: rank %d: %w (%s)", l.peer, ErrAborted, ae.ErrorMessage)
	}
	if ctx.Err() != nil {
		return ctxErr(ctx)
	}
	return fmt.Errorf("collective: quic: rank %d: %w: %v", l.peer, ErrPeerLost, err)
}
