package collective

import "unsafe"

// Reduction kernels over raw bytes. Buffers must be aligned to their element
// size, as HCCL requires; lengths are whole elements.

type number interface {
	~int8 | ~int16 | ~int32 | ~int64 | ~uint8 | ~uint16 | ~uint32 | ~uint64 | ~float32 | ~float64
}

func view[T any](b []byte) []T {
	var z T
	n := len(b) / int(unsafe.Sizeof(z))
	if n == 0 {
		return nil
	}
	return unsafe.Slice((*T)(unsafe.Pointer(unsafe.SliceData(b))), n)
}

func asF32(b []byte) []float32 { return view[float32](b) }
func asU16(b []byte) []uint16  { return view[uint16](b) }

// bytesOf views a typed slice as bytes without copying.
func bytesOf[T number](s []T) []byte {
	if len(s) == 0 {
		return nil
	}
	var z T
	return unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(s))), len(s)*int(unsafe.Sizeof(z)))
}

// reduceFn computes dst = a op b elementwise; dst may be a (exactly).
type reduceFn func(dst, a, b []byte)

// reducer returns the reduceFn of a work type (never a 16-bit float: those
// reduce in float32).
func reducer(dt DataType, op ReduceOp) reduceFn {
	switch dt {
	case Int8:
		return reduceFor[int8](op)
	case Int16:
		return reduceFor[int16](op)
	case Int32:
		return reduceFor[int32](op)
	case Int64:
		return reduceFor[int64](op)
	case Uint8:
		return reduceFor[uint8](op)
	case Uint16:
		return reduceFor[uint16](op)
	case Uint32:
		return reduceFor[uint32](op)
	case Uint64:
		return reduceFor[uint64](op)
	case Float32:
		if op == Sum {
			return func(dst, a, b []byte) { sumF32(asF32(dst), asF32(a), asF32(b)) }
		}
		return reduceFor[float32](op)
	case Float64:
		return reduceFor[float64](op)
	}
	panic("collective: no reducer for " + dt.String())
}

func reduceFor[T number](op ReduceOp) reduceFn {
	return func(dst, a, b []byte) { reduceSlice(op, view[T](dst), view[T](a), view[T](b)) }
}

func reduceSlice[T number](op ReduceOp, d, a, b []T) {
	a, b = a[:len(d)], b[:len(d)]
	switch op {
	case Sum:
		for i := range d {
			d[i] = a[i] + b[i]
		}
	case Prod:
		for i := range d {
			d[i] = a[i] * b[i]
		}
	case Max:
		for i := range d {
			d[i] = a[i]
			if b[i] > a[i] {
				d[i] = b[i]
			}
		}
	case Min:
		for i := range d {
			d[i] = a[i]
			if b[i] < a[i] {
				d[i] = b[i]
			}
		}
	}
}

// sumF32Go is the portable d = a + b, unrolled by 8.
func sumF32Go(d, a, b []float32) {
	a, b = a[:len(d)], b[:len(d)]
	i := 0
	for ; i+8 <= len(d); i += 8 {
		dd, aa, bb := d[i:i+8:i+8], a[i:i+8:i+8], b[i:i+8:i+8]
		dd[0] = aa[0] + bb[0]
		dd[1] = aa[1] + bb[1]
		dd[2] = aa[2] + bb[2]
		dd[3] = aa[3] + bb[3]
		dd[4] = aa[4] + bb[4]
		dd[5] = aa[5] + bb[5]
		dd[6] = aa[6] + bb[6]
		dd[7] = aa[7] + bb[7]
	}
	for ; i < len(d); i++ {
		d[i] = a[i] + b[i]
	}
}
