package ckpt

import (
	"encoding/binary"
	"io"
	"maps"
	"math"
	"os"
	"slices"
	"sync"
	"sync/atomic"
)

// File is one opened .safetensors file. Its methods are safe for concurrent
// use; after Close they return errors.
//
// On Linux the file is memory-mapped read-only, so reading a tensor touches
// only that tensor's pages; elsewhere (or when mapping fails) each tensor is
// read with ReadAt. Either way the header is parsed and checked once, in
// OpenSafetensors.
type File struct {
	path      string
	hdr       *header
	dataStart int64 // offset of the data section in the file

	mu     sync.RWMutex // guards the fields below against Close
	r      io.ReaderAt  // the file, read with ReadAt when not mapped
	f      *os.File     // the file to close, nil for OpenReaderAt
	mapped []byte       // the whole file when memory-mapped, else nil
	closed bool
	stream atomic.Bool // Float32 lets mapped pages go as it decodes them
}

// OpenSafetensors opens and checks the safetensors file at path. The header
// is validated completely (see the package doc); tensor data is read only when
// asked for.
func OpenSafetensors(path string) (*File, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, ioErr(path, err, "open")
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, ioErr(path, err, "stat")
	}
	hdr, dataStart, err := readHeader(path, f, st.Size())
	if err != nil {
		f.Close()
		return nil, err
	}
	return &File{path: path, hdr: hdr, dataStart: dataStart, r: f, f: f, mapped: mmapFile(f, st.Size())}, nil
}

// OpenReaderAt reads a safetensors file of the given size from r, checking
// it as OpenSafetensors does; name stands for the file in errors and Path.
// Tensors are read with ReadAt on demand. Close does not close r.
func OpenReaderAt(name string, r io.ReaderAt, size int64) (*File, error) {
	hdr, dataStart, err := readHeader(name, r, size)
	if err != nil {
		return nil, err
	}
	return &File{path: name, hdr: hdr, dataStart: dataStart, r: r}, nil
}

// readHeader reads and parses the header of a safetensors file of the given
// size, returning it and the offset where the data section starts.
func readHeader(path string, r io.ReaderAt, size int64) (*header, int64, error) {
	if size < 8 {
		return nil, 0, errf(path, ErrCorrupt, "%d bytes is too short for a safetensors file (need at least 8)", size)
	}
	var lenBuf [8]byte
	if err := readFullAt(r, lenBuf[:], 0); err != nil {
		return nil, 0, ioErr(path, err, "read header size")
	}
	n := binary.LittleEndian.Uint64(lenBuf[:])
	if n > MaxHeaderSize {
		return nil, 0, errf(path, ErrCorrupt, "header size %d exceeds the %d-byte limit", n, MaxHeaderSize)
	}
	if int64(n) > size-8 {
		return nil, 0, errf(path, ErrCorrupt, "header size %d runs past the end of the %d-byte file", n, size)
	}
	js := make([]byte, n)
	if err := readFullAt(r, js, 8); err != nil {
		return nil, 0, ioErr(path, err, "read header")
	}
	dataStart := 8 + int64(n)
	hdr, err := parseHeader(path, js, size-dataStart)
	if err != nil {
		return nil, 0, err
	}
	return hdr, dataStart, nil
}

// Path is the path the file was opened with.
func (f *File) Path() string { return f.path }

// Names lists the tensor names, sorted. The caller owns the slice.
func (f *File) Names() []string { return slices.Clone(f.hdr.names) }

// Info describes the named tensor. The caller owns the returned Shape.
func (f *File) Info(name string) (TensorInfo, bool) {
	ti, ok := f.hdr.tensors[name]
	ti.Shape = slices.Clone(ti.Shape)
	return ti, ok
}

// Metadata is the file's "__metadata__" map (nil when it has none). The caller
// owns the returned map.
func (f *File) Metadata() map[string]string { return maps.Clone(f.hdr.meta) }

// DataStart is the offset in the file where the data section begins; a
// tensor's bytes are at DataStart()+Begin up to DataStart()+End.
func (f *File) DataStart() int64 { return f.dataStart }

// Float32 reads the named tensor as float32: F32 as stored, F16, BF16 and the
// F8 formats exactly, F64 rounded to nearest even. It returns a fresh slice
// and shape, both owned by the caller.
func (f *File) Float32(name string) ([]float32, []int, error) {
	ti, err := f.lookup(name)
	if err != nil {
		return nil, nil, err
	}
	if !ti.DType.IsFloat() {
		return nil, nil, errf(f.path, ErrDType, "tensor %q is %s; Float32 reads F32, F16, BF16, F64, F8_E5M2 or F8_E4M3", name, ti.DType)
	}
	out := make([]float32, ti.NumElements())
	err = f.withBytes(ti, func(b []byte) error {
		if !f.stream.Load() || f.mapped == nil {
			decodeFloats(out, b, ti.DType)
			return nil
		}
		// A chunk at a time, each chunk's pages let go behind it.
		size := ti.DType.Size()
		step := streamChunk / size
		for i := 0; i < len(out); i += step {
			j := min(i+step, len(out))
			decodeFloats(out[i:j], b[i*size:j*size], ti.DType)
			evict(f.mapped, f.dataStart+ti.Begin+int64(i*size), int64((j-i)*size))
		}
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	return out, ti.Shape, nil
}

// Int64 reads the named tensor as int64 from any integer dtype or BOOL (false
// is 0, true 1). It returns a fresh slice and shape, both owned by the caller.
func (f *File) Int64(name string) ([]int64, []int, error) {
	ti, err := f.lookup(name)
	if err != nil {
		return nil, nil, err
	}
	if !ti.DType.IsInt() {
		return nil, nil, errf(f.path, ErrDType, "tensor %q is %s; Int64 reads integer and BOOL tensors", name, ti.DType)
	}
	out := make([]int64, ti.NumElements())
	err = f.withBytes(ti, func(b []byte) error {
		if !decodeInts(out, b, ti.DType) {
			return errf(f.path, ErrDType, "tensor %q: a U64 value exceeds the int64 range", name)
		}
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	return out, ti.Shape, nil
}

// Bytes returns a fresh copy of the named tensor's raw little-endian bytes,
// for copying a tensor without converting it.
func (f *File) Bytes(name string) ([]byte, error) {
	ti, err := f.lookup(name)
	if err != nil {
		return nil, err
	}
	var out []byte
	err = f.withBytes(ti, func(b []byte) error {
		out = slices.Clone(b)
		return nil
	})
	if out == nil && err == nil {
		out = []byte{}
	}
	return out, err
}

func (f *File) lookup(name string) (TensorInfo, error) {
	ti, ok := f.Info(name)
	if !ok {
		return TensorInfo{}, errf(f.path, ErrNotFound, "no tensor %q", name)
	}
	if n := ti.End - ti.Begin; n > math.MaxInt {
		return TensorInfo{}, errf(f.path, ErrInvalid, "tensor %q: %d bytes do not fit in memory", name, n)
	}
	return ti, nil
}

// withBytes calls fn with the tensor's bytes, which fn must not keep: they
// are the mapped file itself or a scratch buffer.
func (f *File) withBytes(ti TensorInfo, fn func([]byte) error) error {
	f.mu.RLock()
	defer f.mu.RUnlock()
	if f.closed {
		return errf(f.path, ErrInvalid, "file is closed")
	}
	n := ti.End - ti.Begin
	if f.mapped != nil {
		at := f.dataStart + ti.Begin
		return fn(f.mapped[at : at+n])
	}
	buf := make([]byte, n)
	if err := readFullAt(f.r, buf, f.dataStart+ti.Begin); err != nil {
		return ioErr(f.path, err, "read tensor "+ti.Name)
	}
	return fn(buf)
}

// streamChunk is how many bytes of a tensor a streaming File decodes
// before letting their pages go.
const streamChunk = 16 << 20

// Stream makes Float32 on a memory-mapped file let each chunk of the
// tensor's pages go (as Evict does) once decoded: a reader that reads each
// tensor once, as a conversion does, then holds the tensor's values but
// not also its bytes. Reading a tensor again maps its pages back from the
// page cache.
func (f *File) Stream() { f.stream.Store(true) }

// Evict tells the file that the named tensor will not be read again soon:
// when the file is memory-mapped, its pages leave this process's resident
// set (the kernel's page cache keeps them; reading the tensor again maps them
// back). A reader streaming through a file tensor by tensor, as a
// conversion does, then holds only the tensor it is on, not every page it
// has passed. Unknown names and unmapped files are ignored.
func (f *File) Evict(name string) {
	ti, ok := f.Info(name)
	if !ok {
		return
	}
	f.mu.RLock()
	defer f.mu.RUnlock()
	if f.mapped != nil && !f.closed {
		evict(f.mapped, f.dataStart+ti.Begin, ti.End-ti.Begin)
	}
}

// Close unmaps and closes the file. It is safe to call more than once.
func (f *File) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return nil
	}
	f.closed = true
	err := munmap(f.mapped)
	f.mapped = nil
	if f.f != nil {
		if cerr := f.f.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		return ioErr(f.path, err, "close")
	}
	return nil
}

// readFullAt fills buf from r at off. Unlike a bare ReadAt it accepts io.EOF
// with a full buffer and reads nothing for an empty one.
func readFullAt(r io.ReaderAt, buf []byte, off int64) error {
	if len(buf) == 0 {
		return nil
	}
	n, err := r.ReadAt(buf, off)
	if n == len(buf) {
		return nil
	}
	if err == nil || err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return err
}
