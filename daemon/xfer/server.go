package xfer

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"time"
)

// The serving side of a transfer: one stream, one request.

func (x *Endpoint) serveStream(s *stream, from string) {
	start := time.Now()
	var req request
	err := readFrame(s, &req)
	var f *fault
	if err != nil && !errors.As(err, &f) {
		s.abort() // the stream broke before a header: nobody to answer
		return
	}
	var name string
	if err == nil {
		name, err = x.resolve(req)
	}
	switch {
	case err != nil:
		x.finish(s, err)
	case req.Op == "push":
		err = x.servePush(s, req, name)
	default:
		err = x.servePull(s, req, name)
	}
	log := x.log.With("op", req.Op, "job", req.Job, "rel", req.Rel, "peer", from, "took", time.Since(start))
	if err != nil {
		log.Warn("checkpoint transfer failed", "err", err)
		return
	}
	log.Debug("checkpoint transfer served", "bytes", req.Size, "wire", s.read+s.written)
}

// resolve checks req and names its file under the job's root.
func (x *Endpoint) resolve(req request) (string, error) {
	if err := req.check(); err != nil {
		return "", err
	}
	root, ok := x.root(req.Job)
	if !ok {
		return "", faultf(codeRefused, "job %q has no checkpoints on this node", req.Job)
	}
	return filepath.Join(root, filepath.FromSlash(req.Rel)), nil
}

// finish sends the verdict on err and ends the stream; on a failure it
// also stops reading, so a client still sending learns at once.
func (x *Endpoint) finish(s *stream, err error) {
	if werr := writeFrame(s, replyFor(err)); werr != nil {
		s.abort()
		return
	}
	s.Close()
	if err != nil {
		s.s.CancelRead(streamFailed)
	}
}

// servePush receives a file unless name already holds it.
func (x *Endpoint) servePush(s *stream, req request, name string) error {
	sum, _ := parseSHA(req.SHA) // checked by resolve
	have, err := Holds(name, req.Size, sum)
	if err != nil {
		x.finish(s, err)
		return err
	}
	if have {
		if err := writeFrame(s, reply{Have: true}); err != nil {
			s.abort()
			return err
		}
		return s.Close()
	}
	if err := writeFrame(s, reply{}); err != nil {
		s.abort()
		return err
	}
	err = receiveFile(name, s, req.Size, sum)
	x.finish(s, err) // if the client is gone, its stream fails and finish aborts it
	return err
}

// servePull sends name, after its size, if it is a regular file.
func (x *Endpoint) servePull(s *stream, req request, name string) error {
	fi, err := os.Lstat(name)
	switch {
	case errors.Is(err, os.ErrNotExist) || err == nil && !fi.Mode().IsRegular():
		err = faultf(codeMissing, "no file %s for job %q", req.Rel, req.Job)
	case err != nil:
	case req.Size >= 0 && fi.Size() != req.Size:
		err = faultf(codeMismatch, "%s holds %d bytes, want %d", req.Rel, fi.Size(), req.Size)
	case fi.Size() > maxSize:
		err = faultf(codeFailed, "%s holds %d bytes, more than %d", req.Rel, fi.Size(), int64(maxSize))
	}
	var f io.ReadCloser
	if err == nil {
		f, err = x.open(name)
	}
	if err != nil {
		x.finish(s, err)
		return err
	}
	defer f.Close()
	if err := writeFrame(s, reply{Size: fi.Size()}); err != nil {
		s.abort()
		return err
	}
	if err := zstdBody(s, f, fi.Size()); err != nil {
		s.abort() // the client sees a reset stream, not a short body
		return err
	}
	return s.Close()
}
