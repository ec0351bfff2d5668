package ckpt

import (
	"archive/zip"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
)

// PyTorch's .pt files (torch.save since 1.6): a zip archive, stored
// without compression, whose records live under one top folder (the
// "archive name"): data.pkl, the pickled object; data/<key>, the raw
// little-endian bytes of each storage the pickle refers to by persistent
// id ('storage', torch.<Type>Storage, key, location, numel); version.
// Tensors are calls of torch._utils._rebuild_tensor_v2(storage, offset,
// size, stride, requires_grad, hooks). Supported storages: Float, Half,
// BFloat16, Double, Long, Int, Short, Char, Byte, Bool. Not supported: the
// legacy (pre-1.6, tar or raw pickle) format, TorchScript archives,
// quantized, sparse and meta tensors, tensor subclasses
// (_rebuild_from_type_v2), numpy arrays, and classes outside the pickle
// reader's list (see pickle.go); reading fails with ErrUnsupported naming
// them, unless opened leniently (Megatron client state holds numpy RNG
// states, which then stay opaque *Object values).

// torchStorages maps torch storage classes to dtypes.
var torchStorages = map[string]DType{
	"FloatStorage": F32, "HalfStorage": F16, "BFloat16Storage": BF16, "DoubleStorage": F64,
	"LongStorage": I64, "IntStorage": I32, "ShortStorage": I16, "CharStorage": I8,
	"ByteStorage": U8, "BoolStorage": BOOL,
}

// torchStorage is one storage record of an open .pt file.
type torchStorage struct {
	file  *Torch
	key   string
	dtype DType
	numel int64
}

// TorchTensor is a tensor of a .pt file: read ones refer to their storage
// in the open file and read their data on demand; ones made to be written
// (NewTorchTensor, LazyTorchTensor) hold or produce their values.
type TorchTensor struct {
	DType  DType
	Shape  []int
	stride []int
	offset int64
	store  *torchStorage
	data   func() ([]float32, []int64, error) // to write
}

// NumElements is the product of the shape.
func (t *TorchTensor) NumElements() int {
	n := 1
	for _, d := range t.Shape {
		n *= d
	}
	return n
}

func rebuildTensor(a Tuple) (any, error) {
	if len(a) < 4 {
		return nil, errors.New("_rebuild_tensor_v2 wants (storage, offset, size, stride, …)")
	}
	st, ok := a[0].(*torchStorage)
	if !ok {
		return nil, fmt.Errorf("%w: tensor storage is a %T", ErrUnsupported, a[0])
	}
	off, ok := a[1].(int64)
	if !ok || off < 0 {
		return nil, fmt.Errorf("storage offset %v", a[1])
	}
	shape, err := toInts(a[2])
	if err != nil {
		return nil, fmt.Errorf("size: %w", err)
	}
	stride, err := toInts(a[3])
	if err != nil || len(stride) != len(shape) {
		return nil, fmt.Errorf("stride %v for size %v", a[3], shape)
	}
	t := &TorchTensor{DType: st.dtype, Shape: shape, stride: stride, offset: off, store: st}
	if span := t.span(); span > 0 && off+span > st.numel {
		return nil, fmt.Errorf("tensor of size %v, stride %v at %d is past its storage of %d elements", shape, stride, off, st.numel)
	}
	return t, nil
}

// span is how many storage elements from the offset the tensor reaches.
func (t *TorchTensor) span() int64 {
	last := int64(0)
	for i, d := range t.Shape {
		if d == 0 {
			return 0
		}
		last += int64(d-1) * int64(t.stride[i])
	}
	return last + 1
}

// Torch is an open .pt file.
type Torch struct {
	path   string
	f      *os.File
	zr     *zip.Reader
	prefix string // the archive name and slash
	files  map[string]*zip.File
	Root   any // the unpickled object
}

// OpenTorch opens the .pt file at path and decodes its pickle; tensor data
// stay on disk until read. With lenient, classes the reader does not know
// become *Object values instead of errors.
func OpenTorch(path string, lenient bool) (*Torch, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, ioErr(path, err, "open")
	}
	t, err := openTorch(path, f, lenient)
	if err != nil {
		f.Close()
		return nil, err
	}
	return t, nil
}

func openTorch(path string, f *os.File, lenient bool) (*Torch, error) {
	st, err := f.Stat()
	if err != nil {
		return nil, ioErr(path, err, "stat")
	}
	zr, err := zip.NewReader(f, st.Size())
	if err != nil {
		return nil, wrapf(path, ErrUnsupported, err, "not a zip-format PyTorch file (the legacy pre-1.6 format is not supported)")
	}
	t := &Torch{path: path, f: f, zr: zr, files: map[string]*zip.File{}}
	for _, zf := range zr.File {
		t.files[zf.Name] = zf
		if strings.HasSuffix(zf.Name, "/data.pkl") && strings.Count(zf.Name, "/") == 1 {
			t.prefix = strings.TrimSuffix(zf.Name, "data.pkl")
		}
	}
	if t.prefix == "" {
		return nil, errf(path, ErrCorrupt, "no <archive>/data.pkl record")
	}
	if _, ok := t.files[t.prefix+"constants.pkl"]; ok {
		return nil, errf(path, ErrUnsupported, "a TorchScript archive, not a torch.save file")
	}
	pkl, err := t.record("data.pkl", 1<<30)
	if err != nil {
		return nil, err
	}
	stores := map[string]*torchStorage{}
	persist := func(pid any) (any, error) { return t.storage(pid, stores) }
	if t.Root, err = unpickle(pkl, persist, lenient); err != nil {
		return nil, wrapf(path, kindOf(err), err, "data.pkl")
	}
	return t, nil
}

func kindOf(err error) error {
	if errors.Is(err, ErrUnsupported) {
		return ErrUnsupported
	}
	return ErrCorrupt
}

// record reads the record name (under the archive folder), at most max bytes.
func (t *Torch) record(name string, max int64) ([]byte, error) {
	zf, ok := t.files[t.prefix+name]
	if !ok {
		return nil, errf(t.path, ErrCorrupt, "no record %s%s", t.prefix, name)
	}
	if zf.UncompressedSize64 > uint64(max) {
		return nil, errf(t.path, ErrCorrupt, "record %s is %d bytes", name, zf.UncompressedSize64)
	}
	r, err := zf.Open()
	if err != nil {
		return nil, wrapf(t.path, ErrCorrupt, err, "record %s", name)
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		return nil, wrapf(t.path, ErrCorrupt, err, "record %s", name)
	}
	return b, nil
}

func (t *Torch) storage(pid any, seen map[string]*torchStorage) (any, error) {
	p, ok := pid.(Tuple)
	if !ok || len(p) != 5 || p[0] != "storage" {
		return nil, fmt.Errorf("%w: persistent id %v (only storages)", ErrUnsupported, pid)
	}
	g, ok1 := p[1].(Global)
	key, ok2 := p[2].(string)
	numel, ok3 := p[4].(int64)
	if !ok1 || !ok2 || !ok3 || numel < 0 {
		return nil, fmt.Errorf("%w: storage id %v", ErrCorrupt, pid)
	}
	dt, known := torchStorages[g.Name]
	if g.Module != "torch" || !known {
		return nil, fmt.Errorf("%w: storage type %s", ErrUnsupported, g)
	}
	if s, ok := seen[key]; ok {
		return s, nil
	}
	zf, ok := t.files[t.prefix+"data/"+key]
	if !ok {
		return nil, fmt.Errorf("%w: no record data/%s", ErrCorrupt, key)
	}
	if zf.UncompressedSize64 < uint64(numel)*uint64(dt.Size()) {
		return nil, fmt.Errorf("%w: record data/%s has %d bytes, %d %s elements need %d", ErrCorrupt, key,
			zf.UncompressedSize64, numel, dt, numel*int64(dt.Size()))
	}
	s := &torchStorage{file: t, key: key, dtype: dt, numel: numel}
	seen[key] = s
	return s, nil
}

// Path is the file's path.
func (t *Torch) Path() string { return t.path }

// Close closes the file; tensors read from it can no longer read data.
func (t *Torch) Close() error { return t.f.Close() }

// bytes returns the tensor's elements, row-major, as little-endian bytes of
// its dtype (a fresh slice).
func (t *TorchTensor) bytes() ([]byte, error) {
	s := t.store
	if s == nil {
		return nil, fmt.Errorf("%w: tensor was not read from a file", ErrInvalid)
	}
	es := int64(s.dtype.Size())
	span := t.span()
	raw := make([]byte, span*es)
	zf := s.file.files[s.file.prefix+"data/"+s.key]
	if err := s.file.readRecord(zf, t.offset*es, raw); err != nil {
		return nil, wrapf(s.file.path, ErrCorrupt, err, "record data/%s", s.key)
	}
	if t.contiguous() {
		return raw, nil
	}
	out := make([]byte, int64(t.NumElements())*es)
	idx := make([]int, len(t.Shape))
	for i := 0; i < t.NumElements(); i++ {
		src := int64(0)
		for d := range idx {
			src += int64(idx[d]) * int64(t.stride[d])
		}
		copy(out[int64(i)*es:], raw[src*es:(src+1)*es])
		for d := len(idx) - 1; d >= 0; d-- {
			if idx[d]++; idx[d] < t.Shape[d] {
				break
			}
			idx[d] = 0
		}
	}
	return out, nil
}

func (t *TorchTensor) contiguous() bool {
	want := 1
	for i := len(t.Shape) - 1; i >= 0; i-- {
		if t.Shape[i] != 1 && t.stride[i] != want {
			return false
		}
		want *= t.Shape[i]
	}
	return true
}

// readRecord reads len(buf) bytes at off in the record zf: straight from
// the file when the record is stored, as torch writes it.
func (t *Torch) readRecord(zf *zip.File, off int64, buf []byte) error {
	if zf.Method == zip.Store {
		start, err := zf.DataOffset()
		if err != nil {
			return err
		}
		_, err = t.f.ReadAt(buf, start+off)
		return err
	}
	r, err := zf.Open()
	if err != nil {
		return err
	}
	defer r.Close()
	if _, err := io.CopyN(io.Discard, r, off); err != nil {
		return err
	}
	_, err = io.ReadFull(r, buf)
	return err
}

// Float32 reads a float tensor's values, row-major, widened to float32 (a
// fresh slice).
func (t *TorchTensor) Float32() ([]float32, error) {
	if t.data != nil {
		f, _, err := t.data()
		return f, err
	}
	if !t.DType.IsFloat() {
		return nil, errf(t.store.file.path, ErrDType, "tensor of %s read as float", t.DType)
	}
	b, err := t.bytes()
	if err != nil {
		return nil, err
	}
	out := make([]float32, t.NumElements())
	decodeFloats(out, b, t.DType)
	return out, nil
}

// Int64 reads an integer tensor's values, row-major (a fresh slice).
func (t *TorchTensor) Int64() ([]int64, error) {
	if t.data != nil {
		_, i, err := t.data()
		return i, err
	}
	if !t.DType.IsInt() {
		return nil, errf(t.store.file.path, ErrDType, "tensor of %s read as integer", t.DType)
	}
	b, err := t.bytes()
	if err != nil {
		return nil, err
	}
	out := make([]int64, t.NumElements())
	decodeInts(out, b, t.DType)
	return out, nil
}

// Range reads elements [start, start+n) of a 1-D float tensor read from a
// file (a flat optimizer partition), widened to float32 (a fresh slice):
// only those bytes are read.
func (t *TorchTensor) Range(start, n int) ([]float32, error) {
	if t.store == nil || len(t.Shape) != 1 || start < 0 || n < 0 || start+n > t.Shape[0] {
		return nil, fmt.Errorf("%w: range [%d, %d) of a tensor of shape %v", ErrInvalid, start, start+n, t.Shape)
	}
	if n == 0 {
		return []float32{}, nil
	}
	v := &TorchTensor{DType: t.DType, Shape: []int{n}, stride: t.stride, offset: t.offset + int64(start)*int64(t.stride[0]), store: t.store}
	return v.Float32()
}
