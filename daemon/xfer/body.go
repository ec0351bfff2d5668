package xfer

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/quic-go/quic-go"
)

// Bodies are one zstd frame at the fastest level: weights compress little
// and the wire, not the ratio, sets the pace. Coders are synchronous
// (concurrency 1): the QUIC stack already runs beside them, and a
// synchronous coder owns no goroutines, so a pooled one costs only memory.
// The frame carries no xxhash: the SHA-256 of the whole file covers it.

const zstdWindow = 4 << 20 // zstd window; the decoder refuses larger ones

var zstdEncoders = sync.Pool{New: func() any {
	e, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderConcurrency(1),
		zstd.WithEncoderCRC(false), zstd.WithWindowSize(zstdWindow))
	if err != nil {
		panic(err) // fixed, valid options
	}
	return e
}}

var zstdDecoders = sync.Pool{New: func() any {
	d, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxWindow(zstdWindow))
	if err != nil {
		panic(err) // fixed, valid options
	}
	return d
}}

// zstdBody compresses exactly size bytes of src onto w. An error reading
// src (short or long) is local; one writing w is the stream's.
func zstdBody(w io.Writer, src io.Reader, size int64) error {
	enc := zstdEncoders.Get().(*zstd.Encoder)
	enc.Reset(w)
	defer func() {
		enc.Reset(nil)
		zstdEncoders.Put(enc)
	}()
	n, err := enc.ReadFrom(io.LimitReader(src, size))
	if err != nil {
		return err
	}
	if n != size {
		return fmt.Errorf("xfer: the file has %d bytes, not %d as given", n, size)
	}
	var one [1]byte
	if k, _ := io.ReadFull(src, one[:]); k > 0 {
		return fmt.Errorf("xfer: the file has more than the %d bytes given", size)
	}
	return enc.Close()
}

// unzstdBody decompresses body into w and checks that it is exactly size
// bytes with SHA-256 sum; failures of the check are codeMismatch faults.
func unzstdBody(w io.Writer, body io.Reader, size int64, sum [32]byte) error {
	dec := zstdDecoders.Get().(*zstd.Decoder)
	defer func() {
		dec.Reset(nil)
		zstdDecoders.Put(dec)
	}()
	if err := dec.Reset(body); err != nil {
		return err
	}
	h := sha256.New()
	cw := &capWriter{w: io.MultiWriter(w, h), left: size}
	n, err := dec.WriteTo(cw)
	switch {
	case errors.Is(err, errTooLong):
		return faultf(codeMismatch, "the body is longer than %d bytes", size)
	case err != nil:
		return err
	case n != size:
		return faultf(codeMismatch, "the body has %d bytes, want %d", n, size)
	}
	if got := h.Sum(nil); [32]byte(got) != sum {
		return faultf(codeMismatch, "the received bytes have SHA-256 %x, want %x", got, sum)
	}
	return nil
}

var errTooLong = errors.New("xfer: body too long")

// capWriter passes on at most left bytes, then fails with errTooLong.
type capWriter struct {
	w    io.Writer
	left int64
}

func (c *capWriter) Write(p []byte) (int, error) {
	if int64(len(p)) > c.left {
		return 0, errTooLong
	}
	c.left -= int64(len(p))
	return c.w.Write(p)
}

// receiveFile decodes body into final: through a unique temporary name in
// final's directory (created if needed), checked, fsynced, renamed, and the
// directory fsynced. On error nothing is left behind.
func receiveFile(final string, body io.Reader, size int64, sum [32]byte) (err error) {
	dir := filepath.Dir(final)
	_, statErr := os.Stat(dir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(final)+".tmp-*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if err = unzstdBody(f, body, size, sum); err != nil {
		return err
	}
	if err = f.Sync(); err != nil {
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	if err = os.Rename(f.Name(), final); err != nil {
		return err
	}
	if err = syncDir(dir); err == nil && statErr != nil {
		err = syncDir(filepath.Dir(dir)) // the directory itself is new
	}
	return err
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// holds reports whether name is a regular file of size bytes with SHA-256
// sum (reading it costs far less than sending it).
func Holds(name string, size int64, sum [32]byte) (bool, error) {
	fi, err := os.Lstat(name)
	if errors.Is(err, os.ErrNotExist) || err == nil && (!fi.Mode().IsRegular() || fi.Size() != size) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	f, err := os.Open(name)
	if err != nil {
		return false, err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return false, err
	}
	return [32]byte(h.Sum(nil)) == sum, nil
}

// stream is one transfer's stream: it counts the bytes each way and
// keeps an idle deadline ahead of reads and writes, so a peer that stalls
// fails the transfer after idleTimeout (the deadline moves at most once
// a second: setting it takes a lock).
type stream struct {
	s             *quic.Stream
	read, written int64
	rNext, wNext  time.Time
	writeErr      error // the first write error: the peer or the connection went away
}

func newStream(s *quic.Stream) *stream { return &stream{s: s} }

func (x *stream) Read(p []byte) (int, error) {
	if now := time.Now(); now.After(x.rNext) {
		x.rNext = now.Add(time.Second)
		x.s.SetReadDeadline(now.Add(idleTimeout))
	}
	n, err := x.s.Read(p)
	x.read += int64(n)
	return n, err
}

func (x *stream) Write(p []byte) (int, error) {
	if now := time.Now(); now.After(x.wNext) {
		x.wNext = now.Add(time.Second)
		x.s.SetWriteDeadline(now.Add(idleTimeout))
	}
	n, err := x.s.Write(p)
	x.written += int64(n)
	if err != nil && x.writeErr == nil {
		x.writeErr = err
	}
	return n, err
}

// Close ends this side's writing (FIN); data already written still arrives.
func (x *stream) Close() error {
	err := x.s.Close()
	if err != nil && x.writeErr == nil {
		x.writeErr = err
	}
	return err
}

// abort gives the stream up both ways.
func (x *stream) abort() {
	x.s.CancelWrite(streamFailed)
	x.s.CancelRead(streamFailed)
}
