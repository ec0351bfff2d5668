package data

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
)

// IndexedWriter builds an MMIDIDX dataset the way Megatron's
// MMapIndexedDatasetBuilder does (add_item, end_document, finalize), writing
// under temporary names beside the final ones: nothing appears under
// prefix.bin/.idx until Commit, and Abort leaves nothing behind.
type IndexedWriter struct {
	prefix         string
	dtype          DType
	bin, idx       *os.File
	buf            *bufio.Writer
	sizes          []int32
	docIdx         []int64
	scratch        []byte
	tokens         int64
	finished, done bool
}

// CreateIndexed starts a dataset named prefix with tokens of dtype d.
func CreateIndexed(prefix string, d DType) (*IndexedWriter, error) {
	if d.Size() == 0 {
		return nil, fmt.Errorf("data: %s: dtype code %d holds no tokens", prefix, uint8(d))
	}
	dir, base := filepath.Split(prefix)
	if dir == "" {
		dir = "."
	}
	bin, err := os.CreateTemp(dir, base+".bin.*.tmp")
	if err != nil {
		return nil, fmt.Errorf("data: %w", err)
	}
	idx, err := os.CreateTemp(dir, base+".idx.*.tmp")
	if err != nil {
		bin.Close()
		os.Remove(bin.Name())
		return nil, fmt.Errorf("data: %w", err)
	}
	for _, f := range []*os.File{bin, idx} { // readable by all, as Megatron's and numpy's files are
		if err := f.Chmod(0o644); err != nil {
			bin.Close()
			idx.Close()
			os.Remove(bin.Name())
			os.Remove(idx.Name())
			return nil, fmt.Errorf("data: %w", err)
		}
	}
	return &IndexedWriter{prefix: prefix, dtype: d, bin: bin, idx: idx,
		buf: bufio.NewWriterSize(bin, 1<<20), docIdx: []int64{0}}, nil
}

// Prefix is the dataset's final name.
func (w *IndexedWriter) Prefix() string { return w.prefix }

// Tokens is the number of tokens added so far.
func (w *IndexedWriter) Tokens() int64 { return w.tokens }

// AddItem appends one sequence. It keeps no reference to ids.
func (w *IndexedWriter) AddItem(ids []int32) error {
	if len(ids) > 1<<31-1 {
		return fmt.Errorf("data: %s: a sequence of %d tokens is longer than int32 sizes allow", w.prefix, len(ids))
	}
	var err error
	w.scratch, err = putTokens(w.scratch[:0], ids, w.dtype)
	if err != nil {
		return fmt.Errorf("data: %s: %w", w.prefix, err)
	}
	if _, err := w.buf.Write(w.scratch); err != nil {
		return fmt.Errorf("data: %w", err)
	}
	w.sizes = append(w.sizes, int32(len(ids)))
	w.tokens += int64(len(ids))
	return nil
}

// EndDocument closes the current document: doc_idx gains the sequence count.
func (w *IndexedWriter) EndDocument() {
	w.docIdx = append(w.docIdx, int64(len(w.sizes)))
}

// Finish writes the index and makes both temporary files durable (flushed,
// fsynced, closed); Commit then only renames. Calling it again does nothing.
func (w *IndexedWriter) Finish() error {
	if w.finished {
		return nil
	}
	if err := w.buf.Flush(); err != nil {
		return fmt.Errorf("data: %w", err)
	}
	iw := bufio.NewWriterSize(w.idx, 1<<20)
	if err := writeIndex(iw, w.dtype, w.sizes, w.docIdx); err != nil {
		return fmt.Errorf("data: %s: %w", w.idx.Name(), err)
	}
	if err := iw.Flush(); err != nil {
		return fmt.Errorf("data: %w", err)
	}
	for _, f := range []*os.File{w.bin, w.idx} {
		if err := syncFile(f); err != nil {
			return fmt.Errorf("data: %w", err)
		}
		if err := f.Close(); err != nil {
			return fmt.Errorf("data: %w", err)
		}
	}
	w.finished = true
	return nil
}

// Commit finishes the dataset and renames it to prefix.bin and prefix.idx
// (the .bin first), then fsyncs the directory.
func (w *IndexedWriter) Commit() error {
	if err := w.Finish(); err != nil {
		return err
	}
	if err := os.Rename(w.bin.Name(), BinPath(w.prefix)); err != nil {
		return fmt.Errorf("data: %w", err)
	}
	if err := os.Rename(w.idx.Name(), IndexPath(w.prefix)); err != nil {
		return fmt.Errorf("data: %w", err)
	}
	w.done = true
	return syncDir(filepath.Dir(w.prefix))
}

// Abort removes the temporary files; after Commit it does nothing.
func (w *IndexedWriter) Abort() {
	if w.done {
		return
	}
	w.bin.Close()
	w.idx.Close()
	os.Remove(w.bin.Name())
	os.Remove(w.idx.Name())
	w.done = true
}

// writeIndex writes an .idx exactly as Megatron's Index.writer does.
func writeIndex(w *bufio.Writer, d DType, sizes []int32, docIdx []int64) error {
	le := binary.LittleEndian
	h := []byte(mmidxMagic)
	h = le.AppendUint64(h, mmidxVersion)
	h = append(h, byte(d))
	h = le.AppendUint64(h, uint64(len(sizes)))
	h = le.AppendUint64(h, uint64(len(docIdx)))
	w.Write(h)
	var b [8]byte
	for _, s := range sizes {
		le.PutUint32(b[:], uint32(s))
		w.Write(b[:4])
	}
	var ptr int64
	for _, s := range sizes {
		le.PutUint64(b[:], uint64(ptr))
		w.Write(b[:])
		ptr += int64(s) * int64(d.Size())
	}
	for _, v := range docIdx {
		le.PutUint64(b[:], uint64(v))
		if _, err := w.Write(b[:]); err != nil {
			return err
		}
	}
	return nil
}

// syncFile and syncDirs make outputs durable; benchmarks of the pipeline
// turn them off.
var (
	syncFile = (*os.File).Sync
	syncDirs = true
)

// syncDir fsyncs a directory so renames in it survive a crash.
func syncDir(dir string) error {
	if !syncDirs {
		return nil
	}
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("data: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !os.IsPermission(err) {
		return fmt.Errorf("data: sync %s: %w", dir, err)
	}
	return nil
}
