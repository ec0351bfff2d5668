package daemon

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// Copies of other nodes' rank logs. Every node copies the logs of the
// ranks it runs to one other live node (logship.go), which keeps each at
// the same path under its own data dir (jobs/ID/attempt-N/rank-R.log) with
// a sidecar rank-R.log.copy that says what the copy holds. When the node
// that ran a rank is gone, or lost its disk, the logs endpoint answers
// from a copy (job_logs.go). Log bytes never go through Raft.

// copySuffix names a copy's sidecar next to its log.
const copySuffix = ".copy"

// copyMeta is a copy's sidecar: the copy's file holds bytes [Start, End)
// of the log the rank wrote on Node.
type copyMeta struct {
	Node  string `json:"node"`
	Start int64  `json:"start"`
	End   int64  `json:"end"`
	// CopiedAt is when the copy last received bytes.
	CopiedAt time.Time `json:"copied_at"`
	// Exited: the worker had exited when End was sent; End is the log's end.
	Exited bool `json:"exited,omitempty"`
}

// logCopies holds the copies on this node. One lock serves them all: an
// append moves at most a chunk, and a reader must not see a compaction
// half done.
type logCopies struct {
	mu sync.Mutex
	// bound is the most bytes of a log a copy keeps (the last ones); it
	// grows to a quarter more before its start is cut.
	bound int64
}

// readMeta reads path's sidecar; ok is false when there is no copy.
func readMeta(path string) (m copyMeta, ok bool, err error) {
	b, err := os.ReadFile(path + copySuffix)
	if errors.Is(err, os.ErrNotExist) {
		return m, false, nil
	}
	if err == nil {
		err = json.Unmarshal(b, &m)
	}
	if err != nil {
		return m, false, fmt.Errorf("daemon: log copy %s: %w", path, err)
	}
	return m, true, nil
}

// writeMeta replaces path's sidecar (temporary name, rename).
func writeMeta(path string, m copyMeta) error {
	b, _ := json.Marshal(m)
	tmp := path + copySuffix + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path+copySuffix)
}

// append adds b, the bytes of node's log from offset off, to the copy at
// path and returns what the copy then holds. Bytes the copy has already
// are skipped (a retried append changes nothing); a gap (off beyond the
// copy's end: the bytes between were beyond the sender's bound) starts
// the copy anew at off. exited marks the copy as reaching the worker's
// exit when b ends the log. An empty b without exited only asks what the
// copy holds, and creates nothing. It does not keep b.
func (c *logCopies) append(path, node string, off int64, b []byte, exited bool, now time.Time) (copyMeta, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	m, ok, err := readMeta(path)
	if err != nil {
		return m, err
	}
	if len(b) == 0 && !exited {
		return m, nil
	}
	if !ok || off > m.End {
		m = copyMeta{Node: node, Start: off, End: off}
	}
	sentEnd := off + int64(len(b))
	if skip := m.End - off; skip >= int64(len(b)) {
		b = nil
	} else {
		b = b[skip:]
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return m, err
	}
	if err := writeAt(path, m.End-m.Start, b); err != nil {
		return m, fmt.Errorf("daemon: log copy %s: %w", path, err)
	}
	m.End += int64(len(b))
	m.CopiedAt = now
	m.Exited = m.Exited || exited && sentEnd >= m.End
	if m.End-m.Start > c.bound+c.bound/4 {
		if err := keepLast(path, m.End-m.Start, c.bound); err != nil {
			return m, fmt.Errorf("daemon: log copy %s: %w", path, err)
		}
		m.Start = m.End - c.bound
	}
	return m, writeMeta(path, m)
}

// writeAt cuts the file at path to at bytes (dropping what a crash left
// past the sidecar's end) and writes b there.
func writeAt(path string, at int64, b []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	_, err = f.WriteAt(b, at)
	return errors.Join(err, f.Truncate(at+int64(len(b))), f.Close())
}

// keepLast rewrites the size-byte file at path to its last n bytes.
func keepLast(path string, size, n int64) error {
	src, err := os.Open(path)
	if err != nil {
		return err
	}
	defer src.Close()
	tmp := path + ".tmp"
	dst, err := os.Create(tmp)
	if err != nil {
		return err
	}
	_, err = io.Copy(dst, io.NewSectionReader(src, size-n, n))
	if err = errors.Join(err, dst.Close()); err != nil {
		os.Remove(tmp)
		return err
	}
	return os.Rename(tmp, path)
}

// read returns up to limit bytes of the copy at path from offset off (from
// its start when off is before it), the offset after them, and the
// sidecar; ok is false when this node holds no copy at path.
func (c *logCopies) read(path string, off int64, limit int) (b []byte, next int64, m copyMeta, ok bool, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	m, ok, err = readMeta(path)
	if !ok || err != nil {
		return nil, off, m, ok, err
	}
	if off >= m.End {
		return nil, off, m, true, nil // the reader is at (or past) the copy's end
	}
	off = max(off, m.Start)
	b, err = readFrom(path, off-m.Start, int(min(int64(limit), m.End-off)))
	return b, off + int64(len(b)), m, true, err
}
