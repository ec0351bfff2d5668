package daemon

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"time"
)

// The serving side of a transfer: one stream, one request.

func (x *xfer) serveStream(s *xferStream, from string) {
	start := time.Now()
	var req xferRequest
	err := readXferFrame(s, &req)
	var f *xferFault
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
func (x *xfer) resolve(req xferRequest) (string, error) {
	if err := req.check(); err != nil {
		return "", err
	}
	root, ok := x.root(req.Job)
	if !ok {
		return "", xferErr(xferCodeRefused, "job %q has no checkpoints on this node", req.Job)
	}
	return filepath.Join(root, filepath.FromSlash(req.Rel)), nil
}

// finish sends the verdict on err and ends the stream; on a failure it
// also stops reading, so a client still sending learns at once.
func (x *xfer) finish(s *xferStream, err error) {
	if werr := writeXferFrame(s, xferReplyFor(err)); werr != nil {
		s.abort()
		return
	}
	s.Close()
	if err != nil {
		s.s.CancelRead(xferStreamFailed)
	}
}

// servePush receives a file unless name already holds it.
func (x *xfer) servePush(s *xferStream, req xferRequest, name string) error {
	sum, _ := parseSHA(req.SHA) // checked by resolve
	have, err := xferHolds(name, req.Size, sum)
	if err != nil {
		x.finish(s, err)
		return err
	}
	if have {
		if err := writeXferFrame(s, xferReply{Have: true}); err != nil {
			s.abort()
			return err
		}
		return s.Close()
	}
	if err := writeXferFrame(s, xferReply{}); err != nil {
		s.abort()
		return err
	}
	err = receiveFile(name, s, req.Size, sum)
	x.finish(s, err) // if the client is gone, its stream fails and finish aborts it
	return err
}

// servePull sends name, after its size, if it is a regular file.
func (x *xfer) servePull(s *xferStream, req xferRequest, name string) error {
	fi, err := os.Lstat(name)
	switch {
	case errors.Is(err, os.ErrNotExist) || err == nil && !fi.Mode().IsRegular():
		err = xferErr(xferCodeMissing, "no file %s for job %q", req.Rel, req.Job)
	case err != nil:
	case req.Size >= 0 && fi.Size() != req.Size:
		err = xferErr(xferCodeMismatch, "%s holds %d bytes, want %d", req.Rel, fi.Size(), req.Size)
	case fi.Size() > xferMaxSize:
		err = xferErr(xferCodeFailed, "%s holds %d bytes, more than %d", req.Rel, fi.Size(), int64(xferMaxSize))
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
	if err := writeXferFrame(s, xferReply{Size: fi.Size()}); err != nil {
		s.abort()
		return err
	}
	if err := zstdBody(s, f, fi.Size()); err != nil {
		s.abort() // the client sees a reset stream, not a short body
		return err
	}
	return s.Close()
}
