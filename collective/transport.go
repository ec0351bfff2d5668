package collective

import "context"

// transport moves bytes between this rank and its peers. One per
// communicator; mem, shm and quic implement it, and one conformance suite
// (conformance_test.go) runs against each.
type transport interface {
	// link returns the ordered, reliable, full-duplex byte link to peer.
	// Every send on one side is matched by a recv of the same length on the
	// other, in order.
	link(peer int) (link, error)
	// abort releases every blocked send and recv, on this rank and on every
	// other rank of the communicator, with an error wrapping ErrAborted.
	// It is idempotent and safe from any goroutine.
	abort(cause error)
	// close leaves: peers blocked on this rank get ErrPeerLost. It releases
	// every resource and waits for every goroutine the transport started.
	close() error
}

// link is one peer as seen from this rank. Sends and recvs may run at the
// same time (from two goroutines); two sends or two recvs may not.
type link interface {
	// send returns once b may be reused (not necessarily once received).
	send(ctx context.Context, b []byte) error
	// recv fills b with the next message, which must have len(b) bytes.
	recv(ctx context.Context, b []byte) error
}

// recvReducer is an optional fast path: hand the next message, n bytes, to
// f straight from the transport's buffer, without a copy in between. f is
// called on consecutive parts: src holds bytes off..off+len(src) of the
// message; every part but the last has a length that is a multiple of 8.
type recvReducer interface {
	recvReduce(ctx context.Context, n int, f func(off int, src []byte)) error
}
