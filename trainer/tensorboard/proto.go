package tensorboard

import (
	"encoding/binary"
	"math"
)

// The fields of TensorBoard's protos that a scalar needs
// (tensorboard/compat/proto/event.proto and summary.proto).
const (
	eventWallTime    = 1 // double
	eventStep        = 2 // int64
	eventFileVersion = 3 // string, in oneof what
	eventSummary     = 5 // Summary, in oneof what
	summaryValue     = 1 // repeated Summary.Value
	valueTag         = 1 // string
	valueSimple      = 2 // float, in oneof value
)

// Protobuf wire types.
const (
	wireVarint  = 0
	wireFixed64 = 1
	wireBytes   = 2
	wireFixed32 = 5
)

// fileVersion is the first event of every file (event.proto: "Current
// version is "brain.Event:2"").
const fileVersion = "brain.Event:2"

func appendKey(b []byte, num, wire int) []byte {
	return binary.AppendUvarint(b, uint64(num)<<3|uint64(wire))
}

func appendBytesField(b []byte, num int, v []byte) []byte {
	b = appendKey(b, num, wireBytes)
	b = binary.AppendUvarint(b, uint64(len(v)))
	return append(b, v...)
}

// appendEventHead appends an Event's wall_time and step. Both are proto3
// fields without presence, so a zero is left out, as protobuf's own
// serializers do (a double by its bits: -0 is written).
func appendEventHead(b []byte, wall float64, step int64) []byte {
	if bits := math.Float64bits(wall); bits != 0 {
		b = binary.LittleEndian.AppendUint64(appendKey(b, eventWallTime, wireFixed64), bits)
	}
	if step != 0 {
		b = binary.AppendUvarint(appendKey(b, eventStep, wireVarint), uint64(step))
	}
	return b
}

// fileVersionEvent encodes Event{wall_time, file_version: "brain.Event:2"}.
func fileVersionEvent(wall float64) []byte {
	return appendBytesField(appendEventHead(nil, wall, 0), eventFileVersion, []byte(fileVersion))
}

// scalarEvent encodes Event{wall_time, step, summary{value{tag,
// simple_value}}}. simple_value sits in a oneof, so it is written even when
// zero.
func scalarEvent(wall float64, step int64, tag string, v float32) []byte {
	value := appendBytesField(nil, valueTag, []byte(tag))
	value = binary.LittleEndian.AppendUint32(appendKey(value, valueSimple, wireFixed32), math.Float32bits(v))
	summary := appendBytesField(nil, summaryValue, value)
	return appendBytesField(appendEventHead(nil, wall, step), eventSummary, summary)
}

// field is one decoded protobuf field: for wireBytes the bytes (a
// sub-slice of the message), else the varint or fixed value.
type field struct {
	num, wire int
	u         uint64
	b         []byte
}

// nextField splits the first field off a message.
func nextField(b []byte) (f field, rest []byte, err error) {
	key, n := binary.Uvarint(b)
	if n <= 0 || key>>3 == 0 || key>>3 > math.MaxInt32 {
		return f, nil, errorf(ErrCorrupt, "bad field key")
	}
	f.num, f.wire, b = int(key>>3), int(key&7), b[n:]
	switch f.wire {
	case wireVarint:
		if f.u, n = binary.Uvarint(b); n <= 0 {
			return f, nil, errorf(ErrCorrupt, "bad varint in field %d", f.num)
		}
		return f, b[n:], nil
	case wireFixed64:
		if len(b) < 8 {
			return f, nil, errorf(ErrCorrupt, "field %d cut short", f.num)
		}
		return field{num: f.num, wire: f.wire, u: binary.LittleEndian.Uint64(b)}, b[8:], nil
	case wireFixed32:
		if len(b) < 4 {
			return f, nil, errorf(ErrCorrupt, "field %d cut short", f.num)
		}
		return field{num: f.num, wire: f.wire, u: uint64(binary.LittleEndian.Uint32(b))}, b[4:], nil
	case wireBytes:
		l, n := binary.Uvarint(b)
		if n <= 0 || l > uint64(len(b)-n) {
			return f, nil, errorf(ErrCorrupt, "field %d cut short", f.num)
		}
		f.b = b[n : n+int(l)]
		return f, b[n+int(l):], nil
	}
	return f, nil, errorf(ErrCorrupt, "field %d has wire type %d, not used by Event", f.num, f.wire)
}
