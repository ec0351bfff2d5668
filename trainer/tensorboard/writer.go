package tensorboard

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"
)

// ErrClosed is returned by a Writer's methods after Close.
var ErrClosed = errors.New("tensorboard: writer is closed")

// flushAt is how many bytes of whole records the Writer holds before it
// writes them without being asked.
const flushAt = 64 << 10

// fileSeq numbers the files this process creates, as TensorBoard's
// _global_uid does, so that two writers never share a name.
var fileSeq atomic.Int64

// Writer appends scalar summaries to one event file. Records are buffered
// and written whole: the file ends on a record boundary after every Flush
// and every write the Writer makes on its own, so a process that dies
// loses at most what was not flushed, and leaves a file TensorBoard reads.
// A Writer is safe for concurrent use.
type Writer struct {
	mu   sync.Mutex
	f    *os.File // nil once closed
	path string
	buf  []byte // whole records not yet written
	err  error  // the first write error; every later call returns it
}

// Create creates dir if needed and a new event file in it, named as
// TensorBoard names its files:
// events.out.tfevents.<now, Unix seconds, 10 digits>.<hostname>.<pid>.<n>,
// n counting the files this process created. The file's first record, the
// file_version event stamped now, is written before Create returns.
func Create(dir string, now time.Time) (*Writer, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("tensorboard: %w", err)
	}
	host, err := os.Hostname()
	if err != nil {
		return nil, fmt.Errorf("tensorboard: name the event file: %w", err)
	}
	name := fmt.Sprintf("events.out.tfevents.%010d.%s.%d.%d", now.Unix(), host, os.Getpid(), fileSeq.Add(1)-1)
	path := filepath.Join(dir, name)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return nil, fmt.Errorf("tensorboard: %w", err)
	}
	w := &Writer{f: f, path: path, buf: appendRecord(nil, fileVersionEvent(wallTime(now)))}
	if err := w.Flush(); err != nil {
		f.Close()
		return nil, err
	}
	return w, nil
}

// Path returns the event file's path.
func (w *Writer) Path() string { return w.path }

// Scalar appends one scalar summary: tag's value at step, stamped wall.
// The value is stored as a float32, as TensorBoard stores simple_value.
func (w *Writer) Scalar(tag string, step int64, value float64, wall time.Time) error {
	if tag == "" {
		return errors.New("tensorboard: a scalar needs a tag")
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.f == nil {
		return ErrClosed
	}
	if w.err != nil {
		return w.err
	}
	w.buf = appendRecord(w.buf, scalarEvent(wallTime(wall), step, tag, float32(value)))
	if len(w.buf) >= flushAt {
		return w.writeLocked()
	}
	return nil
}

// Points appends points, each one scalar summary stamped wall, in order.
func (w *Writer) Points(points []Point, wall time.Time) error {
	for _, p := range points {
		if err := w.Scalar(p.Tag, p.Step, p.Value, wall); err != nil {
			return err
		}
	}
	return nil
}

// Flush writes the buffered records to the file (to the operating system;
// it does not fsync).
func (w *Writer) Flush() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.f == nil {
		return ErrClosed
	}
	return w.writeLocked()
}

// Close flushes, syncs and closes the file.
func (w *Writer) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.f == nil {
		return ErrClosed
	}
	err := w.writeLocked()
	if serr := w.f.Sync(); err == nil && serr != nil {
		err = fmt.Errorf("tensorboard: %w", serr)
	}
	if cerr := w.f.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("tensorboard: %w", cerr)
	}
	w.f = nil
	return err
}

// writeLocked writes w.buf in one call. After a failed write the file may
// end inside a record, so the error sticks: nothing more is written.
func (w *Writer) writeLocked() error {
	if w.err != nil {
		return w.err
	}
	if _, err := w.f.Write(w.buf); err != nil {
		w.err = fmt.Errorf("tensorboard: %w", err)
		return w.err
	}
	w.buf = w.buf[:0]
	return nil
}

// wallTime is t as TensorBoard stores it: seconds since the Unix epoch, a
// double (Python's time.time()).
func wallTime(t time.Time) float64 {
	return float64(t.Unix()) + float64(t.Nanosecond())/1e9
}
