package collective

import "errors"

// Sentinels for errors.Is. Every error this package returns is wrapped with
// "collective:" and the operation.
var (
	// ErrAborted: the communicator was aborted, here or on another rank, or a
	// peer failed and the communicator aborted itself. It is unusable now.
	ErrAborted = errors.New("communicator aborted")
	// ErrPeerLost: a peer closed, died or stopped answering mid-operation.
	ErrPeerLost = errors.New("peer lost")
	// ErrTimeout: the operation passed its deadline (Config.OpTimeout or the
	// caller's context). Such errors also match context.DeadlineExceeded.
	ErrTimeout = errors.New("operation timed out")
	// ErrClosed: the communicator was closed by its owner.
	ErrClosed = errors.New("communicator closed")
	// ErrMismatch: ranks disagree on an operation's shape (a Send's length
	// differs from the matching Recv's).
	ErrMismatch = errors.New("mismatched operation between ranks")
)
