package parquet

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Thrift's compact protocol, read-only, for parquet's footer and page
// headers (thrift/doc/specs/thrift-compact-protocol.md).
const (
	tStop   = 0
	tTrue   = 1
	tFalse  = 2
	tByte   = 3
	tI16    = 4
	tI32    = 5
	tI64    = 6
	tDouble = 7
	tBinary = 8
	tList   = 9
	tSet    = 10
	tMap    = 11
	tStruct = 12
)

// maxThriftDepth bounds nesting so a hostile footer cannot exhaust the stack.
const maxThriftDepth = 64

var errThriftShort = errors.New("thrift: truncated")

// thriftReader decodes compact-protocol values from b.
type thriftReader struct {
	b     []byte
	pos   int
	depth int
}

func (r *thriftReader) byte() (byte, error) {
	if r.pos >= len(r.b) {
		return 0, errThriftShort
	}
	c := r.b[r.pos]
	r.pos++
	return c, nil
}

func (r *thriftReader) uvarint() (uint64, error) {
	v, n := binary.Uvarint(r.b[r.pos:])
	if n <= 0 {
		return 0, errThriftShort
	}
	r.pos += n
	return v, nil
}

func (r *thriftReader) varint() (int64, error) {
	u, err := r.uvarint()
	return int64(u>>1) ^ -int64(u&1), err
}

func (r *thriftReader) i32() (int32, error) {
	v, err := r.varint()
	if err == nil && v != int64(int32(v)) {
		return 0, fmt.Errorf("thrift: i32 out of range: %d", v)
	}
	return int32(v), err
}

func (r *thriftReader) binary() ([]byte, error) {
	n, err := r.uvarint()
	if err != nil {
		return nil, err
	}
	if n > uint64(len(r.b)-r.pos) {
		return nil, errThriftShort
	}
	b := r.b[r.pos : r.pos+int(n)]
	r.pos += int(n)
	return b, nil
}

// readStruct calls field for every field of a struct; field must consume the
// value (or call skip).
func (r *thriftReader) readStruct(field func(id int16, typ byte) error) error {
	if r.depth++; r.depth > maxThriftDepth {
		return errors.New("thrift: nested too deeply")
	}
	defer func() { r.depth-- }()
	var last int16
	for {
		h, err := r.byte()
		if err != nil {
			return err
		}
		typ := h & 0x0f
		if typ == tStop {
			return nil
		}
		id := last + int16(h>>4)
		if h>>4 == 0 {
			v, err := r.varint()
			if err != nil {
				return err
			}
			id = int16(v)
		}
		last = id
		if err := field(id, typ); err != nil {
			return err
		}
	}
}

// listHeader reads a list or set header: the element type and count.
func (r *thriftReader) listHeader() (elem byte, n int, err error) {
	h, err := r.byte()
	if err != nil {
		return 0, 0, err
	}
	size := uint64(h >> 4)
	if size == 15 {
		if size, err = r.uvarint(); err != nil {
			return 0, 0, err
		}
	}
	// Every element takes at least one byte, except booleans in a struct
	// field; a count beyond the remaining bytes is corrupt.
	if size > uint64(len(r.b)-r.pos) {
		return 0, 0, fmt.Errorf("thrift: list of %d elements in %d bytes", size, len(r.b)-r.pos)
	}
	return h & 0x0f, int(size), nil
}

// readList calls elem for every element of a list.
func (r *thriftReader) readList(elem func(typ byte) error) error {
	typ, n, err := r.listHeader()
	if err != nil {
		return err
	}
	for i := 0; i < n; i++ {
		if err := elem(typ); err != nil {
			return err
		}
	}
	return nil
}

// skip consumes one value of type typ.
func (r *thriftReader) skip(typ byte) error {
	switch typ {
	case tTrue, tFalse:
		return nil
	case tByte:
		_, err := r.byte()
		return err
	case tI16, tI32, tI64:
		_, err := r.uvarint()
		return err
	case tDouble:
		if len(r.b)-r.pos < 8 {
			return errThriftShort
		}
		r.pos += 8
		return nil
	case tBinary:
		_, err := r.binary()
		return err
	case tList, tSet:
		return r.skipList()
	case tMap:
		return r.skipMap()
	case tStruct:
		return r.readStruct(func(_ int16, t byte) error { return r.skip(t) })
	}
	return fmt.Errorf("thrift: unknown type %d", typ)
}

func (r *thriftReader) skipList() error {
	if r.depth++; r.depth > maxThriftDepth {
		return errors.New("thrift: nested too deeply")
	}
	defer func() { r.depth-- }()
	return r.readList(func(t byte) error {
		if t == tTrue || t == tFalse { // a bool element is one byte
			_, err := r.byte()
			return err
		}
		return r.skip(t)
	})
}

func (r *thriftReader) skipMap() error {
	if r.depth++; r.depth > maxThriftDepth {
		return errors.New("thrift: nested too deeply")
	}
	defer func() { r.depth-- }()
	n, err := r.uvarint()
	if err != nil || n == 0 {
		return err
	}
	if n > uint64(len(r.b)-r.pos) {
		return errThriftShort
	}
	kv, err := r.byte()
	if err != nil {
		return err
	}
	for i := uint64(0); i < n; i++ {
		for _, t := range []byte{kv >> 4, kv & 0x0f} {
			if t == tTrue || t == tFalse {
				t = tByte
			}
			if err := r.skip(t); err != nil {
				return err
			}
		}
	}
	return nil
}

// i32Field and friends read a field value, checking its wire type.
func (r *thriftReader) i32Field(typ byte, dst *int32) error {
	if typ != tI32 {
		return fmt.Errorf("thrift: want i32, have type %d", typ)
	}
	v, err := r.i32()
	*dst = v
	return err
}

func (r *thriftReader) i64Field(typ byte, dst *int64) error {
	if typ != tI64 && typ != tI32 {
		return fmt.Errorf("thrift: want i64, have type %d", typ)
	}
	v, err := r.varint()
	*dst = v
	return err
}

func (r *thriftReader) stringField(typ byte, dst *string) error {
	if typ != tBinary {
		return fmt.Errorf("thrift: want a string, have type %d", typ)
	}
	b, err := r.binary()
	*dst = string(b)
	return err
}

func (r *thriftReader) boolField(typ byte, dst *bool) error {
	if typ != tTrue && typ != tFalse {
		return fmt.Errorf("thrift: want a bool, have type %d", typ)
	}
	*dst = typ == tTrue
	return nil
}
