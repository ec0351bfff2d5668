package data

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Indexed is an open MMIDIDX dataset: both files memory-mapped (read into
// memory where mapping is unavailable) and checked for consistency. It reads
// Megatron's and AscendSpeed's files as well as ours. Methods are safe for
// concurrent use; Close must come after every other call.
type Indexed struct {
	prefix  string
	dtype   DType
	sizes   []int32
	docIdx  []byte // int64[doc_count], a view of the index file
	ptrs    []byte // int64[len], a view of the index file
	bin     []byte
	release []func() error
}

// OpenIndexed opens prefix.idx and prefix.bin.
func OpenIndexed(prefix string) (*Indexed, error) {
	d := &Indexed{prefix: prefix}
	idx, rel, err := mapFile(IndexPath(prefix))
	if err != nil {
		return nil, err
	}
	d.release = append(d.release, rel)
	if err := d.parseIndex(idx); err != nil {
		d.Close()
		return nil, fmt.Errorf("%w: %s: %v", ErrBadIndex, IndexPath(prefix), err)
	}
	bin, rel, err := mapFile(BinPath(prefix))
	if err != nil {
		d.Close()
		return nil, err
	}
	d.release = append(d.release, rel)
	d.bin = bin
	if err := d.checkBin(); err != nil {
		d.Close()
		return nil, fmt.Errorf("%w: %s: %v", ErrBadIndex, BinPath(prefix), err)
	}
	return d, nil
}

// parseIndex validates the header and the arrays of an .idx image.
func (d *Indexed) parseIndex(b []byte) error {
	le := binary.LittleEndian
	if len(b) < mmidxHeaderLen {
		if len(b) >= 9 && string(b[:9]) != mmidxMagic {
			return errors.New("wrong magic: not a Megatron MMIDIDX index")
		}
		return fmt.Errorf("truncated header: %d bytes, need %d", len(b), mmidxHeaderLen)
	}
	if string(b[:9]) != mmidxMagic {
		return fmt.Errorf("wrong magic %q: not a Megatron MMIDIDX index", b[:9])
	}
	if v := le.Uint64(b[9:]); v != mmidxVersion {
		return fmt.Errorf("version %d, only version 1 exists", v)
	}
	d.dtype = DType(b[17])
	if d.dtype.Size() == 0 {
		return fmt.Errorf("dtype code %d holds no tokens (want 1-5 or 8)", b[17])
	}
	n, docs := le.Uint64(b[18:]), le.Uint64(b[26:])
	body := uint64(len(b) - mmidxHeaderLen)
	if n > body/12 || docs > body/8 || 12*n+8*docs > body {
		return fmt.Errorf("header says %d sequences and %d doc_idx entries, more than the file's %d bytes hold (truncated?)", n, docs, len(b))
	}
	want := 12*n + 8*docs
	// Megatron-core's multimodal files add one int8 mode per sequence.
	if body != want && body != want+n {
		return fmt.Errorf("%d bytes, the header implies %d", len(b), mmidxHeaderLen+want)
	}
	off := uint64(mmidxHeaderLen)
	d.sizes = make([]int32, n)
	for i := range d.sizes {
		d.sizes[i] = int32(le.Uint32(b[off+4*uint64(i):]))
	}
	off += 4 * n
	d.ptrs = b[off : off+8*n]
	off += 8 * n
	d.docIdx = b[off : off+8*docs]
	if err := d.checkPointers(); err != nil {
		return err
	}
	return d.checkDocIdx()
}

// checkPointers requires non-negative sizes and pointers that are their
// exclusive prefix sum in bytes, as every Megatron builder writes them.
func (d *Indexed) checkPointers() error {
	var want int64
	for i, s := range d.sizes {
		if s < 0 {
			return fmt.Errorf("sequence %d has negative size %d", i, s)
		}
		if p := d.pointer(i); p != want {
			return fmt.Errorf("pointer of sequence %d is %d, the sizes before it give %d", i, p, want)
		}
		want += int64(s) * int64(d.dtype.Size())
	}
	return nil
}

// checkDocIdx requires doc_idx to start at 0 and never decrease or pass len.
func (d *Indexed) checkDocIdx() error {
	prev := int64(0)
	for i := 0; i < len(d.docIdx)/8; i++ {
		v := int64(binary.LittleEndian.Uint64(d.docIdx[8*i:]))
		if (i == 0 && v != 0) || v < prev || v > int64(len(d.sizes)) {
			return fmt.Errorf("doc_idx[%d] = %d is out of order (previous %d, %d sequences)", i, v, prev, len(d.sizes))
		}
		prev = v
	}
	return nil
}

// checkBin requires the .bin to hold exactly the tokens the index lists.
func (d *Indexed) checkBin() error {
	want := int64(0)
	if n := len(d.sizes); n > 0 {
		want = d.pointer(n-1) + int64(d.sizes[n-1])*int64(d.dtype.Size())
	}
	if int64(len(d.bin)) < want {
		return fmt.Errorf("%d bytes, shorter than the %d the index says (truncated?)", len(d.bin), want)
	}
	if int64(len(d.bin)) != want {
		return fmt.Errorf("%d bytes, the index says %d (does the .idx belong to this .bin?)", len(d.bin), want)
	}
	return nil
}

func (d *Indexed) pointer(i int) int64 {
	return int64(binary.LittleEndian.Uint64(d.ptrs[8*i:]))
}

// Prefix is the dataset's name (the path without .bin/.idx).
func (d *Indexed) Prefix() string { return d.prefix }

// DType is the dtype of the tokens in the .bin.
func (d *Indexed) DType() DType { return d.dtype }

// Len is the number of sequences.
func (d *Indexed) Len() int { return len(d.sizes) }

// Sizes is the token count of every sequence; the slice is shared and must
// not be modified.
func (d *Indexed) Sizes() []int32 { return d.sizes }

// DocIdx is a copy of the document index: 0, then the number of sequences
// after each document.
func (d *Indexed) DocIdx() []int64 {
	out := make([]int64, len(d.docIdx)/8)
	for i := range out {
		out[i] = int64(binary.LittleEndian.Uint64(d.docIdx[8*i:]))
	}
	return out
}

// Get appends length tokens of sequence i, starting at token offset, to dst
// and returns it; length < 0 means to the end of the sequence (Megatron's
// get(idx, offset, length)).
func (d *Indexed) Get(dst []int32, i, offset, length int) ([]int32, error) {
	if i < 0 || i >= len(d.sizes) {
		return dst, fmt.Errorf("data: %s: sequence %d out of range [0,%d)", d.prefix, i, len(d.sizes))
	}
	size := int(d.sizes[i])
	if length < 0 {
		length = size - offset
	}
	if offset < 0 || length < 0 || offset+length > size {
		return dst, fmt.Errorf("data: %s: tokens [%d,%d) of sequence %d, which has %d", d.prefix, offset, offset+length, i, size)
	}
	w := int64(d.dtype.Size())
	start := d.pointer(i) + int64(offset)*w
	out, err := getTokens(dst, d.bin[start:start+int64(length)*w], d.dtype)
	if err != nil {
		return out, fmt.Errorf("data: %s: sequence %d: %w", d.prefix, i, err)
	}
	return out, nil
}

// Close unmaps the files.
func (d *Indexed) Close() error {
	var first error
	for _, rel := range d.release {
		if err := rel(); err != nil && first == nil {
			first = fmt.Errorf("data: %s: %w", d.prefix, err)
		}
	}
	d.release = nil
	d.bin, d.ptrs, d.docIdx = nil, nil, nil
	return first
}
