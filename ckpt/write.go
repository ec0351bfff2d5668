package ckpt

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"runtime"
)

// Tensor is a float tensor to write; WriteSafetensors converts Data to the
// file's dtype. Data is row-major with len(Data) == product(Shape).
type Tensor struct {
	Name  string
	Shape []int
	Data  []float32
	// Load, when Data is nil, gives the data when the tensor's turn to be
	// written comes (product(Shape) values): a writer then holds one
	// tensor at a time, the header being built from the shapes alone.
	Load func() ([]float32, error)
}

// numel is the tensor's element count: len(Data), or for a lazy tensor
// the product of its shape.
func (t Tensor) numel() int {
	if t.Data == nil && t.Load != nil {
		return shapeNumel(t.Shape)
	}
	return len(t.Data)
}

func shapeNumel(shape []int) int {
	n := 1
	for _, d := range shape {
		n *= d
	}
	return n
}

// IntTensor is an integer tensor to write; it is stored as I64.
type IntTensor struct {
	Name  string
	Shape []int
	Data  []int64
}

// headerEntry is one tensor entry of the JSON header, as written.
type headerEntry struct {
	DType       DType    `json:"dtype"`
	Shape       []int    `json:"shape"`
	DataOffsets [2]int64 `json:"data_offsets"`
}

// WriteSafetensors writes tensors (converted to dt: F32, F16 or BF16, rounding
// to nearest even) and ints (as I64) to a safetensors file at path, with meta
// as its "__metadata__" (omitted when empty). Tensors are laid out in the
// order given, floats first, with no gaps; header keys are sorted and the
// header is padded with spaces so the data starts 8-byte aligned.
//
// The write is atomic: the file is written under a temporary name in the same
// directory, synced, renamed over path and the directory synced, so path holds
// either its old content or the complete new file. It does not keep the slices.
func WriteSafetensors(path string, dt DType, tensors []Tensor, ints []IntTensor, meta map[string]string) error {
	hdr, err := buildHeader(path, dt, tensors, ints, meta)
	if err != nil {
		return err
	}
	return WriteAtomic(path, func(w io.Writer) error {
		if _, err := w.Write(hdr); err != nil {
			return err
		}
		return writeData(w, dt, tensors, ints)
	})
}

// buildHeader checks the tensors and returns the first 8+N bytes of the file:
// the header size and the padded JSON header.
func buildHeader(path string, dt DType, tensors []Tensor, ints []IntTensor, meta map[string]string) ([]byte, error) {
	switch dt {
	case F32, F16, BF16:
	default:
		return nil, errf(path, ErrDType, "cannot write float tensors as %q; use F32, F16 or BF16", dt)
	}
	entries := make(map[string]any, len(tensors)+len(ints)+1)
	var at int64
	add := func(name string, shape []int, n int, et DType) error {
		if err := checkTensor(name, shape, n, entries); err != nil {
			return wrapf(path, ErrInvalid, err, "cannot write tensor %q", name)
		}
		size := int64(n) * int64(et.Size())
		entries[name] = headerEntry{DType: et, Shape: append([]int{}, shape...), DataOffsets: [2]int64{at, at + size}}
		at += size
		return nil
	}
	for _, t := range tensors {
		if err := add(t.Name, t.Shape, t.numel(), dt); err != nil {
			return nil, err
		}
	}
	for _, t := range ints {
		if err := add(t.Name, t.Shape, len(t.Data), I64); err != nil {
			return nil, err
		}
	}
	if len(meta) > 0 {
		entries[metadataKey] = meta
	}
	var buf bytes.Buffer
	buf.Write(make([]byte, 8))
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(entries); err != nil { // map keys come out sorted
		return nil, wrapf(path, ErrInvalid, err, "encode header")
	}
	buf.Truncate(buf.Len() - 1) // Encode's newline
	for buf.Len()%8 != 0 {
		buf.WriteByte(' ')
	}
	b := buf.Bytes()
	binary.LittleEndian.PutUint64(b, uint64(len(b)-8))
	return b, nil
}

// checkTensor checks one tensor's name and shape against its data length.
func checkTensor(name string, shape []int, n int, seen map[string]any) error {
	switch {
	case name == "":
		return errorString("empty name")
	case name == metadataKey:
		return errorString("the name is reserved for metadata")
	case seen[name] != nil:
		return errorString("duplicate name")
	}
	want := 1
	for _, d := range shape {
		if d < 0 || (d != 0 && want > math.MaxInt/d) {
			return errorString("bad shape")
		}
		want *= d
	}
	if want != n {
		return errorString("data length does not match the shape")
	}
	return nil
}

type errorString string

func (e errorString) Error() string { return string(e) }

// writeData streams the tensors' bytes, converting a chunk at a time.
func writeData(w io.Writer, dt DType, tensors []Tensor, ints []IntTensor) error {
	const chunk = 1 << 14 // elements per conversion
	buf := make([]byte, 0, chunk*8)
	for _, t := range tensors {
		if t.Data == nil && t.Load != nil {
			data, err := t.Load()
			if err != nil {
				return err
			}
			if len(data) != t.numel() {
				return errorString(fmt.Sprintf("tensor %q: Load gave %d values for shape %v", t.Name, len(data), t.Shape))
			}
			t.Data = data
		}
		for i := 0; i < len(t.Data); i += chunk {
			buf = appendFloats(buf[:0], t.Data[i:min(i+chunk, len(t.Data))], dt)
			if _, err := w.Write(buf); err != nil {
				return err
			}
		}
		if t.Load != nil {
			n := len(t.Data)
			t.Data = nil
			collectAfter(n)
		}
	}
	for _, t := range ints {
		for i := 0; i < len(t.Data); i += chunk {
			buf = buf[:0]
			for _, v := range t.Data[i:min(i+chunk, len(t.Data))] {
				buf = binary.LittleEndian.AppendUint64(buf, uint64(v))
			}
			if _, err := w.Write(buf); err != nil {
				return err
			}
		}
	}
	return nil
}

// bigTensor is the size in float32 values past which a loaded tensor, once
// written, is collected at once (collectAfter).
const bigTensor = 16 << 20 // 64 MiB

// collectAfter runs the garbage collector when a loaded tensor of n values
// that is now garbage was big: the collector paces itself by the heap that
// was live at its last run, which was that tensor, so without this the
// smaller tensors after it would pile up to as much again before the next
// collection, doubling the peak of a streaming write.
func collectAfter(n int) {
	if n >= bigTensor {
		runtime.GC()
	}
}
