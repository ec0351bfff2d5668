package xfer

import (
	"context"
	"fmt"
	"io"
	"net"
	"time"
)

// The calling side of a transfer. Errors name the operation, file, job and
// peer, and wrap ErrRefused, ErrMissing, ErrMismatch, ErrFailed, ErrClosed
// or the ctx's cause.

// Push copies the local file at path (size bytes, SHA-256 sha in hex) to
// peer (its Endpoint's Addr), which stores it as <its root(job)>/rel. It returns
// once the peer has checked size and SHA-256 and made the file durable
// (temporary name, fsync, rename, directory fsync). If the peer already
// holds rel with that size and SHA-256, nothing is sent (Skipped).
// rel is iter_NNNNNNN/<name>.safetensors or iter_NNNNNNN/manifest.json.
func (x *Endpoint) Push(ctx context.Context, peer, job, rel, path, sha string, size int64) (Stats, error) {
	req := request{Op: "push", Job: job, Rel: rel, SHA: sha, Size: size}
	if err := req.check(); err != nil {
		return Stats{}, req.fail(peer, err)
	}
	f, err := x.open(path)
	if err != nil {
		return Stats{}, req.fail(peer, err)
	}
	defer f.Close()
	return x.push(ctx, peer, req, f)
}

// Pull fetches rel of job from peer into the local path dst, by way of a
// temporary name in dst's directory (created if needed), checking size and
// SHA-256 before the file is fsynced and renamed to dst. size -1 takes
// whatever size the peer holds (the SHA-256 still decides).
func (x *Endpoint) Pull(ctx context.Context, peer, job, rel, dst, sha string, size int64) (Stats, error) {
	req := request{Op: "pull", Job: job, Rel: rel, SHA: sha, Size: size}
	if err := req.check(); err != nil {
		return Stats{}, req.fail(peer, err)
	}
	return x.pull(ctx, peer, req, dst)
}

// push sends req and then src's bytes; the request is not checked here
// (tests send bad ones to see the peer refuse them).
func (x *Endpoint) push(ctx context.Context, peer string, req request, src io.Reader) (Stats, error) {
	st := Stats{Bytes: req.Size}
	start := time.Now()
	err := x.call(ctx, peer, req, func(s *stream) error {
		var rep reply
		if err := readFrame(s, &rep); err != nil {
			return err
		}
		if err := rep.err(); err != nil || rep.Have {
			st.Skipped = rep.Have
			return err
		}
		hdr := s.written
		err := zstdBody(s, src, req.Size)
		if err == nil {
			err = s.Close()
		}
		st.Wire = s.written - hdr
		if err != nil && s.writeErr == nil {
			return err // the source failed: hanging up tells the peer
		}
		// The verdict; after a failed write it says why the peer stopped reading.
		if rerr := readFrame(s, &rep); rerr != nil {
			return firstErr(err, rerr)
		}
		return firstErr(rep.err(), err)
	})
	st.Duration = time.Since(start)
	return st, err
}

// pull sends req and receives the file into dst.
func (x *Endpoint) pull(ctx context.Context, peer string, req request, dst string) (Stats, error) {
	var st Stats
	start := time.Now()
	sum, _ := parseSHA(req.SHA) // a bad one fails the check below
	err := x.call(ctx, peer, req, func(s *stream) error {
		s.Close() // nothing more to say; if the peer has answered already, this fails, and the answer tells why
		var rep reply
		if err := readFrame(s, &rep); err != nil {
			return err
		}
		if err := rep.err(); err != nil {
			return err
		}
		if rep.Size < 0 || rep.Size > maxSize || req.Size >= 0 && rep.Size != req.Size {
			return faultf(codeMismatch, "the peer offers %d bytes, want %d", rep.Size, req.Size)
		}
		hdr := s.read
		err := receiveFile(dst, s, rep.Size, sum)
		st.Bytes, st.Wire = rep.Size, s.read-hdr
		return err
	})
	st.Duration = time.Since(start)
	return st, err
}

// call runs one transfer on a connection of its own (see the package
// comment): dial, open a stream, send req, run fn. Cancelling ctx
// closes the connection, which fails whatever fn is blocked on at once.
func (x *Endpoint) call(ctx context.Context, peer string, req request, fn func(s *stream) error) (err error) {
	defer func() {
		if err != nil && ctx.Err() != nil {
			err = context.Cause(ctx)
		}
		if err != nil {
			err = req.fail(peer, err)
		}
	}()
	if x.isClosed() {
		return ErrClosed
	}
	ra, err := net.ResolveUDPAddr("udp", peer)
	if err != nil {
		return err
	}
	conn, err := x.tr.Dial(ctx, ra, x.cliTLS, x.qconf)
	if err != nil {
		return err
	}
	if !x.track(conn) {
		return ErrClosed
	}
	code := connCanceled
	defer func() {
		x.untrack(conn)
		conn.CloseWithError(code, "")
	}()
	stop := context.AfterFunc(ctx, func() { conn.CloseWithError(connCanceled, "transfer canceled") })
	defer stop()
	qs, err := conn.OpenStreamSync(ctx)
	if err != nil {
		return err
	}
	s := newStream(qs)
	if err := writeFrame(s, req); err != nil {
		return err
	}
	if err := fn(s); err != nil {
		return err
	}
	code = connDone
	return nil
}

// fail puts the request's context on err.
func (q request) fail(peer string, err error) error {
	dir := "to"
	if q.Op == "pull" {
		dir = "from"
	}
	return fmt.Errorf("xfer: %s %s of job %q %s %s: %w", q.Op, q.Rel, q.Job, dir, peer, err)
}

func firstErr(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}
