package collective

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
)

// RootInfo is the blob one rank makes (HcclGetRootInfo) and the caller hands
// to every other rank (HcclCommInitRootInfo): the communicator's id, its
// transport and, for quic, the address of the rank that made it.
type RootInfo []byte

const rootInfoMagic = "BLOOMRI1"

type rootInfo struct {
	comm      [16]byte // communicator id
	root      [16]byte // id of the endpoint that made it
	transport string
	addr      string
}

func (r rootInfo) encode() RootInfo {
	var b bytes.Buffer
	b.WriteString(rootInfoMagic)
	b.Write(r.comm[:])
	b.Write(r.root[:])
	for _, s := range []string{r.transport, r.addr} {
		binary.Write(&b, binary.BigEndian, uint16(len(s)))
		b.WriteString(s)
	}
	return b.Bytes()
}

func decodeRootInfo(b RootInfo) (rootInfo, error) {
	var r rootInfo
	bad := func(what string) (rootInfo, error) {
		return rootInfo{}, fmt.Errorf("collective: root info is not valid (%s): pass the bytes RootInfo returned on the root, unchanged", what)
	}
	if len(b) < len(rootInfoMagic)+32 || string(b[:len(rootInfoMagic)]) != rootInfoMagic {
		return bad("bad magic or too short")
	}
	b = b[len(rootInfoMagic):]
	copy(r.comm[:], b[:16])
	copy(r.root[:], b[16:32])
	b = b[32:]
	var strs [2]string
	for i := range strs {
		if len(b) < 2 {
			return bad("truncated")
		}
		n := int(binary.BigEndian.Uint16(b))
		if len(b) < 2+n {
			return bad("truncated")
		}
		strs[i], b = string(b[2:2+n]), b[2+n:]
	}
	if len(b) != 0 {
		return bad("trailing bytes")
	}
	r.transport, r.addr = strs[0], strs[1]
	return r, nil
}

// Endpoint is one rank's attachment to the transport before it joins a
// communicator: for quic it is the listening UDP socket. Make one per rank
// with Listen; on the root, RootInfo makes the blob; every rank then Joins.
type Endpoint struct {
	cfg    Config
	id     [16]byte
	quic   *quicEndpoint // quic and hybrid
	joined bool
}

// Listen opens this rank's endpoint.
func Listen(cfg Config) (*Endpoint, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	e := &Endpoint{cfg: cfg}
	rand.Read(e.id[:])
	if cfg.Transport == "quic" || cfg.Transport == "hybrid" {
		q, err := listenQUIC(cfg, e.id)
		if err != nil {
			return nil, err
		}
		e.quic = q
	}
	return e, nil
}

// Addr is the address peers reach this endpoint at ("" without quic).
func (e *Endpoint) Addr() string {
	if e.quic == nil {
		return ""
	}
	return e.quic.addr()
}

// RootInfo makes a new communicator's root info; the rank that calls it
// must Join with it like every other rank.
func (e *Endpoint) RootInfo() RootInfo {
	r := rootInfo{root: e.id, transport: e.cfg.Transport, addr: e.Addr()}
	rand.Read(r.comm[:])
	return r.encode()
}

// Close releases an endpoint that has not joined (a joined one belongs to
// its communicator).
func (e *Endpoint) Close() error {
	if e.joined || e.quic == nil {
		return nil
	}
	return e.quic.close()
}

// Join makes this endpoint rank of a size-rank communicator described by
// info, once every rank has joined (bounded by Config.ConnectTimeout). The
// endpoint belongs to the communicator from then on, even on error.
func (e *Endpoint) Join(ctx context.Context, info RootInfo, rank, size int) (*Comm, error) {
	if e.joined {
		return nil, errors.New("collective: endpoint already joined a communicator: Listen again")
	}
	e.joined = true
	r, err := decodeRootInfo(info)
	if err == nil && r.transport != e.cfg.Transport {
		err = fmt.Errorf("collective: root info is for transport %s, this endpoint is %s", r.transport, e.cfg.Transport)
	}
	if err == nil && (size < 1 || rank < 0 || rank >= size) {
		err = fmt.Errorf("collective: rank %d of %d is not valid", rank, size)
	}
	if err != nil {
		if e.quic != nil {
			e.quic.close()
		}
		return nil, err
	}
	ctx, cancel := context.WithTimeoutCause(ctx, e.cfg.ConnectTimeout, ErrTimeout)
	defer cancel()
	var hosts []string
	if e.quic != nil {
		hosts, err = e.quic.rendezvous(ctx, r, rank, size, r.root == e.id)
		if err != nil {
			e.quic.close()
			return nil, err
		}
	}
	return join(ctx, e.cfg, r.comm, rank, size, hosts, e.quic)
}

// join builds the transport once the ranks' hosts (and quic addresses) are
// known; hosts is nil when the transport finds them itself.
func join(ctx context.Context, cfg Config, id [16]byte, rank, size int, hosts []string, q *quicEndpoint) (*Comm, error) {
	var tr transport
	var err error
	switch cfg.Transport {
	case "mem":
		var mt *memTransport
		var joined []string
		mt, joined, err = cfg.Mem.join(ctx, id, rank, size, cfg.Host)
		if hosts == nil {
			hosts = joined
		}
		tr = mt
	case "shm":
		if hosts == nil {
			hosts = make([]string, size)
			for i := range hosts {
				hosts[i] = cfg.Host
			}
		}
		tr, err = joinShm(ctx, cfg, id, rank, size, allRanks(size))
	case "quic":
		tr, err = q.start(ctx, rank, size)
	case "hybrid":
		tr, err = joinHybrid(ctx, cfg, id, rank, size, hosts, q)
	}
	if err != nil {
		return nil, err
	}
	return newComm(cfg, rank, size, hosts, tr), nil
}

func allRanks(n int) []int {
	r := make([]int, n)
	for i := range r {
		r[i] = i
	}
	return r
}

// JoinLocal is a convenience for the in-process and single-node transports
// (mem, shm), where no address needs exchanging: every rank passes the same
// id (from NewCommID) instead of a root info.
func JoinLocal(ctx context.Context, cfg Config, id [16]byte, rank, size int) (*Comm, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Transport != "mem" && cfg.Transport != "shm" {
		return nil, fmt.Errorf("collective: JoinLocal needs transport mem or shm, not %s: use Listen and Join", cfg.Transport)
	}
	if size < 1 || rank < 0 || rank >= size {
		return nil, fmt.Errorf("collective: rank %d of %d is not valid", rank, size)
	}
	ctx, cancel := context.WithTimeoutCause(ctx, cfg.ConnectTimeout, ErrTimeout)
	defer cancel()
	return join(ctx, cfg, id, rank, size, nil, nil)
}

// NewCommID returns a random communicator id.
func NewCommID() [16]byte {
	var id [16]byte
	rand.Read(id[:])
	return id
}
