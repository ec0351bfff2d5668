package coord

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// snapshotMagic starts every snapshot; the digit is the snapshot version.
// Version 2 adds Attempt.LastStep, version 3 Attempt.Planned and
// Checkpoint.Files; a snapshot is written as the oldest version that holds
// its fields, so an older bloomd still restores it when it can. Restore
// reads them all.
const (
	snapshotMagic  = "bloom-coord-snapshot 1\n"
	snapshotMagic2 = "bloom-coord-snapshot 2\n"
	snapshotMagic3 = "bloom-coord-snapshot 3\n"
	snapshotMagic4 = "bloom-coord-snapshot 4\n"
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
	v := 1
	for _, j := range s.Jobs {
		for _, a := range j.Attempts {
			if a.Planned {
				v = 3
			} else if a.LastStep != 0 {
				v = max(v, 2)
			}
		}
		for _, c := range j.Checkpoints {
			if len(c.Files) > 0 {
				v = max(v, 3)
			}
		}
		if len(j.History) > 0 {
			v = 4
		}
	}
	magic := [...]string{snapshotMagic, snapshotMagic2, snapshotMagic3, snapshotMagic4}[v-1]
	return append([]byte(magic), body...), nil
}

// Restore decodes a snapshot written by Snapshot.
func Restore(b []byte) (*State, error) {
	if len(b) > MaxSnapshotSize {
		return nil, fmt.Errorf("%w: %d bytes", ErrBadSnapshot, len(b))
	}
	var body []byte
	ok := false
	for _, m := range []string{snapshotMagic, snapshotMagic2, snapshotMagic3, snapshotMagic4} {
		if body, ok = bytes.CutPrefix(b, []byte(m)); ok {
			break
		}
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
