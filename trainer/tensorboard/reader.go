package tensorboard

import (
	"errors"
	"fmt"
	"math"
	"os"
)

var (
	// ErrCorrupt reports a record whose CRC does not match or whose Event
	// does not parse.
	ErrCorrupt = errors.New("corrupt event file")
	// ErrTruncated reports a file that ends inside a record: a crash, or a
	// writer still writing. TensorBoard reads what precedes it.
	ErrTruncated = errors.New("event file ends inside a record")
)

func errorf(sentinel error, format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{sentinel}, args...)...)
}

// Scalar is one scalar summary value read from an event file.
type Scalar struct {
	WallTime float64 // seconds since the Unix epoch, as stored
	Step     int64
	Tag      string
	Value    float32 // simple_value is a float32 on disk
}

// ReadScalars reads every simple_value scalar of the event file at path,
// in file order, checking both CRCs of every record. Other events and
// summary values (the file_version record, tensors, histograms) are
// skipped. A file that ends inside a record returns the scalars before it
// and an error that errors.Is ErrTruncated, so that a caller plotting a
// live run can use them, as TensorBoard does; a CRC mismatch returns
// ErrCorrupt.
func ReadScalars(path string) ([]Scalar, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("tensorboard: %w", err)
	}
	scalars, err := parseScalars(b)
	if err != nil {
		return scalars, fmt.Errorf("tensorboard: read %s: %w", path, err)
	}
	return scalars, nil
}

// parseScalars reads the scalars of an event file's bytes. It keeps no
// reference to b.
func parseScalars(b []byte) ([]Scalar, error) {
	var out []Scalar
	for i, off := 0, 0; len(b) > 0; i++ {
		data, rest, err := nextRecord(b)
		if err == nil {
			out, err = appendEventScalars(out, data)
		}
		if err != nil {
			return out, fmt.Errorf("record %d at byte %d: %w", i, off, err)
		}
		off += len(b) - len(rest)
		b = rest
	}
	return out, nil
}

// appendEventScalars appends the scalars of one encoded Event to out.
func appendEventScalars(out []Scalar, event []byte) ([]Scalar, error) {
	var wall float64
	var step int64
	first := len(out)
	for len(event) > 0 {
		f, rest, err := nextField(event)
		if err != nil {
			return out[:first], err
		}
		event = rest
		switch {
		case f.num == eventWallTime && f.wire == wireFixed64:
			wall = math.Float64frombits(f.u)
		case f.num == eventStep && f.wire == wireVarint:
			step = int64(f.u)
		case f.num == eventSummary && f.wire == wireBytes:
			if out, err = appendSummaryScalars(out, f.b); err != nil {
				return out[:first], err
			}
		case f.num == eventFileVersion || f.num == 4 || f.num >= 6 && f.num <= 9:
			out = out[:first] // another member of oneof what replaces the summary
		}
	}
	for i := first; i < len(out); i++ {
		out[i].WallTime, out[i].Step = wall, step
	}
	return out, nil
}

// appendSummaryScalars appends the simple_value values of one encoded
// Summary to out.
func appendSummaryScalars(out []Scalar, summary []byte) ([]Scalar, error) {
	for len(summary) > 0 {
		f, rest, err := nextField(summary)
		if err != nil {
			return out, err
		}
		summary = rest
		if f.num != summaryValue || f.wire != wireBytes {
			continue
		}
		s, ok, err := parseValue(f.b)
		if err != nil {
			return out, err
		}
		if ok {
			out = append(out, s)
		}
	}
	return out, nil
}

// parseValue decodes a Summary.Value; ok is false when it holds no
// simple_value.
func parseValue(value []byte) (s Scalar, ok bool, err error) {
	for len(value) > 0 {
		f, rest, err := nextField(value)
		if err != nil {
			return s, false, err
		}
		value = rest
		switch {
		case f.num == valueTag && f.wire == wireBytes:
			s.Tag = string(f.b)
		case f.num == valueSimple && f.wire == wireFixed32:
			s.Value, ok = math.Float32frombits(uint32(f.u)), true
		case f.num >= 3 && f.num <= 6 || f.num == 8:
			ok = false // another member of oneof value replaces simple_value
		}
	}
	return s, ok, nil
}
