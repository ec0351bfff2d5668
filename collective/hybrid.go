package collective

import (
	"context"
	"errors"
)

// joinHybrid: shm links to ranks on this node, quic to the others.
func joinHybrid(ctx context.Context, cfg Config, id [16]byte, rank, size int, hosts []string, q *quicEndpoint) (transport, error) {
	var local []int
	for r, h := range hosts {
		if h == hosts[rank] {
			local = append(local, r)
		}
	}
	s, err := joinShm(ctx, cfg, id, rank, size, local)
	if err != nil {
		q.close()
		return nil, err
	}
	if _, err := q.start(ctx, rank, size); err != nil {
		s.close()
		return nil, err
	}
	return &hybrid{shm: s, quic: q, hosts: hosts, rank: rank}, nil
}

type hybrid struct {
	shm   *shmTransport
	quic  *quicEndpoint
	hosts []string
	rank  int
}

func (h *hybrid) link(peer int) (link, error) {
	if peer >= 0 && peer < len(h.hosts) && h.hosts[peer] == h.hosts[h.rank] {
		return h.shm.link(peer)
	}
	return h.quic.link(peer)
}

func (h *hybrid) abort(cause error) { h.shm.abort(cause); h.quic.abort(cause) }

func (h *hybrid) close() error {
	err := h.quic.close()
	return errors.Join(err, h.shm.close())
}

func (h *hybrid) release() { h.shm.release() }
