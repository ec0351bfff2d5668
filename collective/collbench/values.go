package collbench

import (
	"encoding/binary"
	"math"

	"bloom/collective"
	"bloom/internal/half"
)

// value is rank r's element i: small integers every type holds exactly,
// with closed-form reductions (as the collective's tests use).
func value(op collective.ReduceOp, r, i int) float64 {
	switch op {
	case collective.Sum:
		return float64(r+1) + float64(i%7)
	case collective.Prod:
		if (r+i)%3 == 0 {
			return 2
		}
		return 1
	}
	return float64((r*5 + i) % 11)
}

// expected is element i of op over n ranks' values.
func expected(op collective.ReduceOp, n, i int) float64 {
	acc := value(op, 0, i)
	for r := 1; r < n; r++ {
		v := value(op, r, i)
		switch op {
		case collective.Sum:
			acc += v
		case collective.Prod:
			acc *= v
		case collective.Max:
			acc = max(acc, v)
		case collective.Min:
			acc = min(acc, v)
		}
	}
	return acc
}

// setValue writes v as element i of b, of type dt.
func setValue(dt collective.DataType, b []byte, i int, v float64) {
	o := b[i*dt.Size():]
	switch dt {
	case collective.Int8, collective.Uint8:
		o[0] = byte(int64(v))
	case collective.Int16, collective.Uint16:
		binary.LittleEndian.PutUint16(o, uint16(int64(v)))
	case collective.Int32, collective.Uint32:
		binary.LittleEndian.PutUint32(o, uint32(int64(v)))
	case collective.Int64, collective.Uint64:
		binary.LittleEndian.PutUint64(o, uint64(int64(v)))
	case collective.Float16:
		binary.LittleEndian.PutUint16(o, half.F32ToF16(float32(v)))
	case collective.BFloat16:
		binary.LittleEndian.PutUint16(o, half.F32ToBF16(float32(v)))
	case collective.Float32:
		binary.LittleEndian.PutUint32(o, math.Float32bits(float32(v)))
	case collective.Float64:
		binary.LittleEndian.PutUint64(o, math.Float64bits(v))
	}
}

// getValue reads element i of b, of type dt.
func getValue(dt collective.DataType, b []byte, i int) float64 {
	o := b[i*dt.Size():]
	switch dt {
	case collective.Int8:
		return float64(int8(o[0]))
	case collective.Uint8:
		return float64(o[0])
	case collective.Int16:
		return float64(int16(binary.LittleEndian.Uint16(o)))
	case collective.Uint16:
		return float64(binary.LittleEndian.Uint16(o))
	case collective.Int32:
		return float64(int32(binary.LittleEndian.Uint32(o)))
	case collective.Uint32:
		return float64(binary.LittleEndian.Uint32(o))
	case collective.Int64:
		return float64(int64(binary.LittleEndian.Uint64(o)))
	case collective.Uint64:
		return float64(binary.LittleEndian.Uint64(o))
	case collective.Float16:
		return float64(half.F16ToF32(binary.LittleEndian.Uint16(o)))
	case collective.BFloat16:
		return float64(half.BF16ToF32(binary.LittleEndian.Uint16(o)))
	case collective.Float32:
		return float64(math.Float32frombits(binary.LittleEndian.Uint32(o)))
	}
	return math.Float64frombits(binary.LittleEndian.Uint64(o))
}

// f64Bytes encodes v little-endian.
func f64Bytes(v []float64) []byte {
	b := make([]byte, 8*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint64(b[8*i:], math.Float64bits(x))
	}
	return b
}
