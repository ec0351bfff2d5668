package ckpt

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"unicode/utf8"
)

// MaxHeaderSize is the largest safetensors header this package reads, the
// same limit as the reference implementation (100 MB).
const MaxHeaderSize = 100_000_000

const metadataKey = "__metadata__"

// TensorInfo describes one tensor of a safetensors file. Begin and End are
// byte offsets into the data section (which starts after the header).
type TensorInfo struct {
	Name  string
	DType DType
	Shape []int
	Begin int64
	End   int64
}

// NumElements is the product of Shape (1 for a scalar).
func (t TensorInfo) NumElements() int {
	n := 1
	for _, d := range t.Shape {
		n *= d
	}
	return n
}

// header is a parsed and validated safetensors header.
type header struct {
	tensors map[string]TensorInfo
	names   []string // sorted
	meta    map[string]string
}

// rawEntry is one tensor entry as it appears in the JSON header. Pointers
// tell a missing field from a zero one.
type rawEntry struct {
	DType       *string  `json:"dtype"`
	Shape       *[]int64 `json:"shape"`
	DataOffsets *[]int64 `json:"data_offsets"`
}

// parseHeader parses the JSON header of the file at path (used in errors)
// whose data section is dataLen bytes long, and checks every rule of the
// format: known dtypes, sizes that match shapes, and offsets that tile the
// data section exactly, without holes or overlap.
func parseHeader(path string, js []byte, dataLen int64) (*header, error) {
	if !utf8.Valid(js) {
		return nil, errf(path, ErrCorrupt, "header is not valid UTF-8")
	}
	entries, err := splitObject(js)
	if err != nil {
		return nil, wrapf(path, ErrCorrupt, err, "header is not a JSON object")
	}
	h := &header{tensors: make(map[string]TensorInfo, len(entries))}
	for _, e := range entries {
		if e.key == metadataKey {
			if err := json.Unmarshal(e.value, &h.meta); err != nil || h.meta == nil {
				return nil, errf(path, ErrCorrupt, "%s is not an object of strings", metadataKey)
			}
			continue
		}
		ti, err := parseEntry(path, e.key, e.value, dataLen)
		if err != nil {
			return nil, err
		}
		h.tensors[e.key] = ti
		h.names = append(h.names, e.key)
	}
	slices.Sort(h.names)
	if err := checkTiling(path, h, dataLen); err != nil {
		return nil, err
	}
	return h, nil
}

// parseEntry decodes and checks one tensor entry.
func parseEntry(path, name string, js []byte, dataLen int64) (TensorInfo, error) {
	var r rawEntry
	if err := json.Unmarshal(js, &r); err != nil {
		return TensorInfo{}, wrapf(path, ErrCorrupt, err, "tensor %q: bad entry", name)
	}
	switch {
	case r.DType == nil:
		return TensorInfo{}, errf(path, ErrCorrupt, "tensor %q: missing dtype", name)
	case r.Shape == nil:
		return TensorInfo{}, errf(path, ErrCorrupt, "tensor %q: missing shape", name)
	case r.DataOffsets == nil:
		return TensorInfo{}, errf(path, ErrCorrupt, "tensor %q: missing data_offsets", name)
	}
	dt := DType(*r.DType)
	if !dt.Known() {
		return TensorInfo{}, errf(path, ErrDType, "tensor %q: unknown dtype %q", name, *r.DType)
	}
	ti := TensorInfo{Name: name, DType: dt, Shape: make([]int, len(*r.Shape))}
	n := int64(dt.Size())
	for i, d := range *r.Shape {
		if d < 0 || d > math.MaxInt {
			return TensorInfo{}, errf(path, ErrCorrupt, "tensor %q: bad shape %v", name, *r.Shape)
		}
		if d != 0 && n > math.MaxInt64/d {
			return TensorInfo{}, errf(path, ErrCorrupt, "tensor %q: shape %v overflows", name, *r.Shape)
		}
		n *= d
		ti.Shape[i] = int(d)
	}
	off := *r.DataOffsets
	if len(off) != 2 {
		return TensorInfo{}, errf(path, ErrCorrupt, "tensor %q: data_offsets has %d values, want 2", name, len(off))
	}
	ti.Begin, ti.End = off[0], off[1]
	if ti.Begin < 0 || ti.Begin > ti.End || ti.End > dataLen {
		return TensorInfo{}, errf(path, ErrCorrupt, "tensor %q: data_offsets [%d, %d] outside the %d-byte data section",
			name, ti.Begin, ti.End, dataLen)
	}
	if ti.End-ti.Begin != n {
		return TensorInfo{}, errf(path, ErrCorrupt, "tensor %q: data_offsets [%d, %d] hold %d bytes, %s%v needs %d",
			name, ti.Begin, ti.End, ti.End-ti.Begin, dt, ti.Shape, n)
	}
	return ti, nil
}

// checkTiling checks that the tensors cover the data section exactly once.
func checkTiling(path string, h *header, dataLen int64) error {
	order := slices.Clone(h.names)
	slices.SortFunc(order, func(a, b string) int {
		ta, tb := h.tensors[a], h.tensors[b]
		if c := compareInt64(ta.Begin, tb.Begin); c != 0 {
			return c
		}
		return compareInt64(ta.End, tb.End)
	})
	var at int64
	prev := ""
	for _, name := range order {
		t := h.tensors[name]
		switch {
		case t.Begin < at:
			return errf(path, ErrCorrupt, "tensor %q [%d, %d] overlaps tensor %q", name, t.Begin, t.End, prev)
		case t.Begin > at:
			return errf(path, ErrCorrupt, "bytes [%d, %d) of the data section belong to no tensor", at, t.Begin)
		}
		at, prev = t.End, name
	}
	if at != dataLen {
		return errf(path, ErrCorrupt, "bytes [%d, %d) of the data section belong to no tensor", at, dataLen)
	}
	return nil
}

func compareInt64(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// member is one key and its raw value in a JSON object.
type member struct {
	key   string
	value json.RawMessage
}

// splitObject splits a JSON object into its members, in order, rejecting
// duplicate keys (which encoding/json would silently merge) and anything but
// whitespace after the closing brace.
func splitObject(js []byte) ([]member, error) {
	dec := json.NewDecoder(bytes.NewReader(js))
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	if tok != json.Delim('{') {
		return nil, fmt.Errorf("starts with %v", tok)
	}
	var out []member
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, err
		}
		key, ok := tok.(string)
		if !ok {
			return nil, fmt.Errorf("key %v is not a string", tok)
		}
		if seen[key] {
			return nil, fmt.Errorf("duplicate key %q", key)
		}
		seen[key] = true
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, err
		}
		out = append(out, member{key, v})
	}
	if _, err := dec.Token(); err != nil { // the closing '}'
		return nil, err
	}
	if len(bytes.TrimLeft(js[dec.InputOffset():], " \t\r\n")) > 0 {
		return nil, errors.New("trailing data after the object")
	}
	return out, nil
}
