package collective

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"

	"github.com/quic-go/quic-go"
)

// Bootstrap over quic: every stream starts with a 32-byte header ("BLMQ",
// kind, communicator or endpoint id, source rank, stream index). A joining
// rank sends the root a hello (rank, size, host, address) on a 'H' stream;
// once all have arrived the root answers each with the table of every
// rank's host and address.

func header(kind byte, id [16]byte, src, idx int) []byte {
	h := make([]byte, quicHeaderLen)
	copy(h, "BLMQ")
	h[4] = kind
	copy(h[5:21], id[:])
	binary.BigEndian.PutUint32(h[21:], uint32(src))
	binary.BigEndian.PutUint32(h[25:], uint32(idx))
	return h
}

func writeStrings(w io.Writer, nums []int, strs ...string) error {
	var b []byte
	for _, n := range nums {
		b = binary.BigEndian.AppendUint32(b, uint32(n))
	}
	for _, s := range strs {
		b = binary.BigEndian.AppendUint16(b, uint16(len(s)))
		b = append(b, s...)
	}
	_, err := w.Write(b)
	return err
}

func readString(r io.Reader) (string, error) {
	var n [2]byte
	if _, err := io.ReadFull(r, n[:]); err != nil {
		return "", err
	}
	b := make([]byte, binary.BigEndian.Uint16(n[:]))
	_, err := io.ReadFull(r, b)
	return string(b), err
}

func readUint32(r io.Reader) (int, error) {
	var n [4]byte
	_, err := io.ReadFull(r, n[:])
	return int(binary.BigEndian.Uint32(n[:])), err
}

func readHello(r io.Reader) (hello, error) {
	var h hello
	var err error
	if h.rank, err = readUint32(r); err == nil {
		if h.size, err = readUint32(r); err == nil {
			if h.host, err = readString(r); err == nil {
				h.addr, err = readString(r)
			}
		}
	}
	return h, err
}

// rendezvous exchanges every rank's host and address through the root.
func (e *quicEndpoint) rendezvous(ctx context.Context, r rootInfo, rank, size int, isRoot bool) ([]string, error) {
	hosts, addrs := make([]string, size), make([]string, size)
	hosts[rank], addrs[rank] = e.cfg.Host, e.addr()
	if !isRoot {
		conn, err := e.dial(ctx, r.addr)
		if err != nil {
			return nil, err
		}
		defer conn.CloseWithError(quicLeaveCode, "rendezvous done")
		s, err := conn.OpenUniStreamSync(ctx)
		if err == nil {
			if _, err = s.Write(header(quicStreamHello, r.root, rank, 0)); err == nil {
				err = writeStrings(s, []int{rank, size}, e.cfg.Host, e.addr())
			}
			s.Close()
		}
		var in *quic.ReceiveStream
		if err == nil {
			in, err = conn.AcceptUniStream(ctx)
		}
		if err == nil {
			err = readTable(in, hosts, addrs)
		}
		if err != nil {
			return nil, fmt.Errorf("collective: quic: rendezvous with root %s: %w", r.addr, errOr(ctx, err))
		}
	} else {
		var peers []hello
		for len(peers) < size-1 {
			select {
			case h := <-e.hellos:
				if h.size != size || h.rank < 0 || h.rank >= size || h.rank == rank || addrs[h.rank] != "" {
					return nil, fmt.Errorf("collective: quic: rank %d (size %d) from %s conflicts with this communicator of %d", h.rank, h.size, h.addr, size)
				}
				hosts[h.rank], addrs[h.rank] = h.host, h.addr
				peers = append(peers, h)
			case <-ctx.Done():
				return nil, fmt.Errorf("collective: quic: root waiting for %d ranks, %d arrived: %w", size-1, len(peers), ctxErr(ctx))
			}
		}
		for _, p := range peers {
			s, err := p.conn.OpenUniStreamSync(ctx)
			if err == nil {
				err = writeTable(s, hosts, addrs)
				s.Close()
			}
			if err != nil {
				return nil, fmt.Errorf("collective: quic: sending the rank table to rank %d: %w", p.rank, errOr(ctx, err))
			}
		}
	}
	e.mu.Lock()
	e.commID, e.rank, e.addrs = r.comm, rank, addrs
	e.mu.Unlock()
	return hosts, nil
}

func writeTable(w io.Writer, hosts, addrs []string) error {
	var strs []string
	for i := range hosts {
		strs = append(strs, hosts[i], addrs[i])
	}
	return writeStrings(w, []int{len(hosts)}, strs...)
}

func readTable(r io.Reader, hosts, addrs []string) error {
	n, err := readUint32(r)
	if err != nil {
		return err
	}
	if n != len(hosts) {
		return fmt.Errorf("root's table has %d ranks, expected %d", n, len(hosts))
	}
	for i := range hosts {
		if hosts[i], err = readString(r); err != nil {
			return err
		}
		if addrs[i], err = readString(r); err != nil {
			return err
		}
	}
	return nil
}

func errOr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctxErr(ctx)
	}
	return err
}
