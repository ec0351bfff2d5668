package coord

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// snapshotMagic starts every snapshot; the digit is the snapshot version.
// Version 2 adds Attempt.LastStep; a snapshot without it is written as
// version 1, so an older bloomd still restores it. Restore reads both.
const (
	snapshotMagic  = "bloom-coord-snapshot 1\n"
	snapshotMagic2 = "bloom-coord-snapshot 2\n"
)

// MaxSnapshotSize bounds what Restore reads.
const MaxSnapshotSize = 1 << 30

// Snapshot encodes the whole state. Maps are written in key order, so equal
// states give equal bytes.
func (s *State) Snapshot() ([]byte, error) {
	body, err := json.Marshal(s)
	if err != nil {
		return nil, fmt.Errorf("coord: snapshot: %w", err)
	}
	magic := snapshotMagic
	for _, j := range s.Jobs {
		for _, a := range j.Attempts {
			if a.LastStep != 0 {
				magic = snapshotMagic2
			}
		}
	}
	return append([]byte(magic), body...), nil
}

// Restore decodes a snapshot written by Snapshot.
func Restore(b []byte) (*State, error) {
	if len(b) > MaxSnapshotSize {
		return nil, fmt.Errorf("%w: %d bytes", ErrBadSnapshot, len(b))
	}
	body, ok := bytes.CutPrefix(b, []byte(snapshotMagic))
	if !ok {
		body, ok = bytes.CutPrefix(b, []byte(snapshotMagic2))
	}
	if !ok {
		return nil, fmt.Errorf("%w: no %q header (a snapshot from a newer bloomd, or not a snapshot)", ErrBadSnapshot, snapshotMagic[:len(snapshotMagic)-1])
	}
	s := NewState()
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(s); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadSnapshot, err)
	}
	if s.Members == nil {
		s.Members = map[string]*Member{}
	}
	if s.Jobs == nil {
		s.Jobs = map[string]*Job{}
	}
	for k, m := range s.Members {
		if m == nil || m.Name != k {
			return nil, fmt.Errorf("%w: member entry %q does not match its name", ErrBadSnapshot, k)
		}
	}
	for k, j := range s.Jobs {
		if j == nil || j.ID != k {
			return nil, fmt.Errorf("%w: job entry %q does not match its id", ErrBadSnapshot, k)
		}
	}
	return s, nil
}
