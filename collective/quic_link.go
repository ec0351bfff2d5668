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

// quicCoalesceBytes: a message up to this size goes out in one Write with
// its length, copied behind it. Two Writes are two wake-ups of the
// connection's send loop, which may pack the 8-byte length into a packet of
// its own: twice the packets, the acknowledgements and the CPU of a small
// message.
const quicCoalesceBytes = 16 << 10

// quicLink is one peer. Message j goes on stream j mod StreamsPerHop.
type quicLink struct {
	e          *quicEndpoint
	peer       int
	sendSeq    int
	recvSeq    int
	hdr        []byte // the length, and a small message after it
	rhdr       []byte
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

// send writes b as the next message on the next stream. It does not keep
// b: a small b is copied behind its length first, and quic-go's Write
// returns once every byte it was given sits in a STREAM frame (the packer
// copies as it builds packets, Write copies the last packet's worth
// itself), whose copy retransmissions resend; so the caller may reuse b at
// once — the ring engine overwrites it with the final value of the same
// chunk later in the operation.
func (l *quicLink) send(ctx context.Context, b []byte) error {
	if err := l.connect(ctx); err != nil {
		return err
	}
	s := l.out[l.sendSeq%len(l.out)]
	l.sendSeq++
	stop := context.AfterFunc(ctx, func() { s.SetWriteDeadline(time.Now()) })
	defer stop()
	var err error
	if len(b) <= quicCoalesceBytes {
		l.hdr = binary.LittleEndian.AppendUint64(l.hdr[:0], uint64(len(b)))
		l.hdr = append(l.hdr, b...)
		_, err = s.Write(l.hdr)
	} else {
		binary.LittleEndian.PutUint64(l.hdr[:8], uint64(len(b)))
		if _, err = s.Write(l.hdr[:8]); err == nil {
			_, err = s.Write(b)
		}
	}
	if err != nil {
		return l.fail(ctx, err)
	}
	return nil
}

// recv fills b with the next message, from the next stream. It writes b
// only until it returns and does not keep it. The bytes that fill b were
// sent after the peer received whatever they depend on, so b's earlier
// readers (this rank's send of the same chunk) are done with it; in race
// builds the sockets tell the race detector so (quic_race.go).
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
