// Package xfer moves checkpoint files between bloom nodes (DESIGN.md §9): a
// node pushes each shard it wrote to a peer before the checkpoint is
// committed, and a node resuming a job pulls the shards (and manifest.json)
// it lacks. One QUIC stream per transfer, mutual TLS from the cluster
// identity (package daemon/identity), ALPN "bloom-ckpt/1":
//
//	client → header frame (request)
//	push:  server → reply frame (go ahead, or Have: nothing to send)
//	       client → zstd body, FIN;  server → verdict frame once durable
//	pull:  client FIN;  server → reply frame (Size), zstd body, FIN
//
// A frame is a 2-byte length and at most 4 KiB of JSON. The receiver checks
// size and SHA-256 of the uncompressed bytes and writes to a unique
// temporary name in the target directory, fsyncs, renames and fsyncs the
// directory: the final name only ever holds a whole, checked file.
//
// Each transfer dials its own connection. A transfer moves megabytes to
// gigabytes; a handshake costs one round trip and two ed25519 signatures,
// so a connection cache would save nothing measurable while needing
// eviction of dead connections. A connection of its own also gives each
// transfer its own flow-control window and congestion controller, and
// cancelling a transfer closes just that connection.
//
// It owns the mechanics of one file's transfer: the Endpoint (listener and
// client), the wire format, the failure classes (ErrRefused, ErrMissing,
// ErrMismatch, ErrFailed, ErrClosed) and the durable write (Holds tells
// whether a file is already in place). Which files go to which node, and
// recording where copies live, are its callers' business: the daemon
// replicates shards, a worker pulls the checkpoint it resumes from.
//
// It imports nothing of the project but daemon/identity.
//
// Usage:
//
//	x, err := xfer.Listen(id, "10.0.0.1:0", jobRoot, log) // advertise x.Addr()
//	defer x.Close()
//	st, err := x.Push(ctx, peerAddr, job, "iter_0000010/mp_rank_00_000.safetensors", path, sha, size)
//	st, err = x.Pull(ctx, peerAddr, job, "iter_0000010/manifest.json", dst, manifestSHA, -1)
package xfer
