package ckpt

import (
	"archive/zip"
	"bufio"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"sort"
	"strconv"
)

// Writing .pt files that torch.load reads: a pickle of protocol 2, as
// torch.save writes it, and the zip layout of torch.save (archive/data.pkl,
// archive/byteorder, archive/data/<n>, archive/version), each storage
// aligned to 64 bytes by padding the local header's extra field, as
// torch's own writer does (so torch.load(mmap=True) works).

// torchStorageNames maps dtypes to torch storage classes for writing.
var torchStorageNames = map[DType]string{F32: "FloatStorage", F16: "HalfStorage", BF16: "BFloat16Storage", I64: "LongStorage"}

// NewTorchTensor is a float tensor to write as dt (F32, F16 or BF16;
// narrowing rounds to nearest even). It keeps data until written.
func NewTorchTensor(dt DType, shape []int, data []float32) *TorchTensor {
	return LazyTorchTensor(dt, shape, func() ([]float32, error) { return data, nil })
}

// LazyTorchTensor is a float tensor to write whose values load produces
// when the writer reaches its storage, after the pickle is written: a
// writer of many tensors holds one at a time.
func LazyTorchTensor(dt DType, shape []int, load func() ([]float32, error)) *TorchTensor {
	return &TorchTensor{DType: dt, Shape: append([]int(nil), shape...), data: func() ([]float32, []int64, error) {
		f, err := load()
		return f, nil, err
	}}
}

// NewTorchIntTensor is an int64 tensor to write.
func NewTorchIntTensor(shape []int, data []int64) *TorchTensor {
	return &TorchTensor{DType: I64, Shape: append([]int(nil), shape...), data: func() ([]float32, []int64, error) {
		return nil, data, nil
	}}
}

// pickler writes protocol-2 pickles of the values WriteTorch takes.
type pickler struct {
	b       []byte
	tensors []*TorchTensor
}

func (p *pickler) op(b ...byte) { p.b = append(p.b, b...) }

func (p *pickler) global(mod, name string) { p.b = append(append(p.b, 'c'), mod+"\n"+name+"\n"...) }

func (p *pickler) str(s string) {
	p.op('X')
	p.b = binary.LittleEndian.AppendUint32(p.b, uint32(len(s)))
	p.b = append(p.b, s...)
}

func (p *pickler) int(v int64) {
	switch {
	case v >= 0 && v < 256:
		p.op('K', byte(v))
	case v >= 0 && v < 65536:
		p.op('M')
		p.b = binary.LittleEndian.AppendUint16(p.b, uint16(v))
	case v >= math.MinInt32 && v <= math.MaxInt32:
		p.op('J')
		p.b = binary.LittleEndian.AppendUint32(p.b, uint32(int32(v)))
	default:
		p.op(0x8a, 8)
		p.b = binary.LittleEndian.AppendUint64(p.b, uint64(v))
	}
}

func (p *pickler) value(v any) error {
	switch x := v.(type) {
	case nil:
		p.op('N')
	case bool:
		p.op(map[bool]byte{true: 0x88, false: 0x89}[x])
	case int:
		p.int(int64(x))
	case int64:
		p.int(x)
	case float32:
		return p.value(float64(x))
	case float64:
		p.op('G')
		p.b = binary.BigEndian.AppendUint64(p.b, math.Float64bits(x))
	case string:
		p.str(x)
	case []int:
		p.op(']', '(')
		for _, n := range x {
			p.int(int64(n))
		}
		p.op('e')
	case []string:
		p.op(']', '(')
		for _, s := range x {
			p.str(s)
		}
		p.op('e')
	case []any:
		p.op(']', '(')
		for _, e := range x {
			if err := p.value(e); err != nil {
				return err
			}
		}
		p.op('e')
	case Tuple:
		p.op('(')
		for _, e := range x {
			if err := p.value(e); err != nil {
				return err
			}
		}
		p.op('t')
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		d := NewDict()
		for _, k := range keys {
			d.Set(k, x[k])
		}
		return p.value(d)
	case *Dict:
		return p.dict(x)
	case *TorchTensor:
		return p.tensor(x)
	default:
		return fmt.Errorf("%w: cannot write a %T to a .pt file", ErrInvalid, v)
	}
	return nil
}

func (p *pickler) dict(d *Dict) error {
	switch d.Class {
	case "":
		p.op('}')
	case "collections.OrderedDict":
		p.global("collections", "OrderedDict")
		p.op(')', 'R')
	default:
		return fmt.Errorf("%w: cannot write a %s", ErrInvalid, d.Class)
	}
	if d.Len() == 0 {
		return nil
	}
	p.op('(')
	for i := range d.keys {
		if err := p.value(d.keys[i]); err != nil {
			return err
		}
		if err := p.value(d.vals[i]); err != nil {
			return err
		}
	}
	p.op('u')
	return nil
}

func (p *pickler) tensor(t *TorchTensor) error {
	name, ok := torchStorageNames[t.DType]
	if !ok || t.data == nil {
		return fmt.Errorf("%w: cannot write a tensor of %s (F32, F16, BF16 or I64, made by NewTorchTensor)", ErrInvalid, t.DType)
	}
	key := strconv.Itoa(len(p.tensors))
	p.tensors = append(p.tensors, t)
	p.global("torch._utils", "_rebuild_tensor_v2")
	p.op('(', '(')
	p.str("storage")
	p.global("torch", name)
	p.str(key)
	p.str("cpu")
	p.int(int64(t.NumElements()))
	p.op('t', 'Q')
	p.int(0)
	stride := make(Tuple, len(t.Shape))
	size := make(Tuple, len(t.Shape))
	s := 1
	for i := len(t.Shape) - 1; i >= 0; i-- {
		size[i], stride[i] = int64(t.Shape[i]), int64(s)
		s *= t.Shape[i]
	}
	if err := p.value(size); err != nil {
		return err
	}
	if err := p.value(stride); err != nil {
		return err
	}
	p.op(0x89)
	p.global("collections", "OrderedDict")
	p.op(')', 'R', 't', 'R')
	return nil
}

// WriteTorch writes root as a .pt file at path, atomically, in the format
// torch.save writes (zip, pickle protocol 2). root and what it holds may
// be nil, bool, int, int64, float32, float64, string, []int, []string,
// []any, Tuple, map[string]any (keys sorted), *Dict (a plain dict or an
// OrderedDict) and *TorchTensor made by NewTorchTensor, LazyTorchTensor or
// NewTorchIntTensor. Tensor data are produced and written one tensor at a
// time. progress, if not nil, is called after each tensor.
func WriteTorch(path string, root any, progress func(done, total int)) error {
	p := &pickler{}
	p.op(0x80, 2)
	if err := p.value(root); err != nil {
		return wrapf(path, ErrInvalid, err, "pickle")
	}
	p.op('.')
	return WriteAtomic(path, func(w io.Writer) error {
		bw := bufio.NewWriterSize(w, 1<<20)
		cw := &offsetWriter{w: bw}
		zw := zip.NewWriter(cw)
		if err := writeRecord(zw, cw, "archive/data.pkl", p.b); err != nil {
			return err
		}
		if err := writeRecord(zw, cw, "archive/byteorder", []byte("little")); err != nil {
			return err
		}
		for i, t := range p.tensors {
			size, crc, write, err := tensorRecord(t)
			if err != nil {
				return fmt.Errorf("tensor %d %v: %w", i, t.Shape, err)
			}
			if err := writeRecordFunc(zw, cw, "archive/data/"+strconv.Itoa(i), size, crc, write); err != nil {
				return err
			}
			write = nil // its values are garbage now, unless the caller holds them
			collectAfter(t.NumElements())
			if progress != nil {
				progress(i+1, len(p.tensors))
			}
		}
		if err := writeRecord(zw, cw, "archive/version", []byte("3\n")); err != nil {
			return err
		}
		if err := zw.Close(); err != nil {
			return err
		}
		return bw.Flush()
	})
}

// tensorRecord produces t's data and returns its record's size, CRC-32
// and a function writing its bytes. Float data are converted a chunk at a
// time, twice (once for the CRC the zip header needs first, once to write):
// memory holds the tensor's values, not also their bytes.
func tensorRecord(t *TorchTensor) (int64, uint32, func(io.Writer) error, error) {
	f, ints, err := t.data()
	if err != nil {
		return 0, 0, nil, err
	}
	n := t.NumElements()
	if t.DType == I64 {
		if len(ints) != n {
			return 0, 0, nil, fmt.Errorf("%w: %d values for shape %v", ErrInvalid, len(ints), t.Shape)
		}
		b := make([]byte, 0, 8*n)
		for _, v := range ints {
			b = binary.LittleEndian.AppendUint64(b, uint64(v))
		}
		return int64(len(b)), crc32.ChecksumIEEE(b), func(w io.Writer) error { _, err := w.Write(b); return err }, nil
	}
	if len(f) != n {
		return 0, 0, nil, fmt.Errorf("%w: %d values for shape %v", ErrInvalid, len(f), t.Shape)
	}
	const chunk = 1 << 14 // elements per conversion
	buf := make([]byte, 0, chunk*t.DType.Size())
	each := func(fn func([]byte) error) error {
		for i := 0; i < len(f); i += chunk {
			buf = appendFloats(buf[:0], f[i:min(i+chunk, len(f))], t.DType)
			if err := fn(buf); err != nil {
				return err
			}
		}
		return nil
	}
	var crc uint32
	each(func(b []byte) error { crc = crc32.Update(crc, crc32.IEEETable, b); return nil })
	write := func(w io.Writer) error {
		return each(func(b []byte) error { _, err := w.Write(b); return err })
	}
	return int64(n) * int64(t.DType.Size()), crc, write, nil
}

// offsetWriter counts the bytes the zip writer has written.
type offsetWriter struct {
	w io.Writer
	n int64
}

func (o *offsetWriter) Write(b []byte) (int, error) {
	n, err := o.w.Write(b)
	o.n += int64(n)
	return n, err
}

// writeRecord writes one stored record whose data start at a multiple of
// 64 bytes.
func writeRecord(zw *zip.Writer, cw *offsetWriter, name string, data []byte) error {
	return writeRecordFunc(zw, cw, name, int64(len(data)), crc32.ChecksumIEEE(data), func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
}

// writeRecordFunc is writeRecord for size bytes of CRC-32 crc that write
// writes.
func writeRecordFunc(zw *zip.Writer, cw *offsetWriter, name string, size int64, crc uint32, write func(io.Writer) error) error {
	if err := zw.Flush(); err != nil {
		return err
	}
	// Sizes of 4 GiB and more go to the central directory's zip64 field
	// (archive/zip); the local header says 0xFFFFFFFF, which torch's reader
	// (miniz) does not read sizes from.
	var extra []byte
	start := cw.n + 30 + int64(len(name)) + int64(len(extra)) + 4
	pad := (64 - start%64) % 64
	extra = binary.LittleEndian.AppendUint16(extra, 0x4246) // "FB", torch's padding tag
	extra = binary.LittleEndian.AppendUint16(extra, uint16(pad))
	extra = append(extra, make([]byte, pad)...)
	fh := &zip.FileHeader{
		Name: name, Method: zip.Store, Extra: extra,
		CRC32: crc, CompressedSize64: uint64(size), UncompressedSize64: uint64(size),
	}
	w, err := zw.CreateRaw(fh)
	if err != nil {
		return err
	}
	return write(w)
}
