package cpu

import (
	"fmt"

	"bloom/npu"
)

// Buf is a cpu buffer: float32 values in host memory. A Slice shares memory
// with its parent and cannot grow past the end of the view it was cut as.
// A host slice converted with Buf(x) is a buffer too; the device then
// computes in place on x.
type Buf []float32

// Len returns the number of values.
func (b Buf) Len() int { return len(b) }

// Slice returns the view of n values from off. A range outside the buffer is
// a programmer error and panics.
func (b Buf) Slice(off, n int) npu.Buf {
	if off < 0 || n < 0 || off > len(b)-n {
		panic(fmt.Sprintf("cpu: Slice(%d, %d) of a buffer of %d values", off, n, len(b)))
	}
	return b[off : off+n : off+n]
}

// Floats returns the memory of a cpu buffer; it shares memory with b and does
// not copy. A nil Buf gives nil. A buffer of another backend is a programmer
// error and panics.
func Floats(b npu.Buf) []float32 {
	switch x := b.(type) {
	case Buf:
		return x
	case nil:
		return nil
	}
	panic(fmt.Sprintf("cpu: a %T is not a cpu buffer; buffers of one backend cannot be used by another", b))
}

// view returns the first n values of b for kernel op, or panics naming the
// argument when b is shorter: a size that does not match its buffer is a
// programmer error.
func view(op, name string, b npu.Buf, n int) []float32 {
	x := Floats(b)
	if n < 0 || len(x) < n {
		panic(fmt.Sprintf("cpu: %s: %s has %d values, need %d", op, name, len(x), n))
	}
	return x[:n:n]
}

// dims panics unless every size is non-negative.
func dims(op string, sizes ...int) {
	for _, s := range sizes {
		if s < 0 {
			panic(fmt.Sprintf("cpu: %s: negative size %d", op, s))
		}
	}
}
