package tensorboard

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// recordStarts returns the offsets of the records of an event file.
func recordStarts(t *testing.T, b []byte) []int {
	t.Helper()
	var starts []int
	for off := 0; off < len(b); {
		starts = append(starts, off)
		_, rest, err := nextRecord(b[off:])
		if err != nil {
			t.Fatal(err)
		}
		off = len(b) - len(rest)
	}
	return starts
}

// TestReadRejectsCorruption flips one bit in each part of every record of
// the golden (length, length CRC, data, data CRC) and expects ErrCorrupt,
// with the scalars of the records before it.
func TestReadRejectsCorruption(t *testing.T) {
	_, good := readGolden(t)
	starts := recordStarts(t, good)
	parts := []struct {
		name string
		at   func(start, end int) int
	}{
		{"length", func(s, _ int) int { return s }},
		{"length CRC", func(s, _ int) int { return s + 9 }},
		{"data", func(s, e int) int { return s + 12 + (e-s-16)/2 }},
		{"data CRC", func(_, e int) int { return e - 1 }},
	}
	for r, start := range starts {
		end := len(good)
		if r+1 < len(starts) {
			end = starts[r+1]
		}
		for _, p := range parts {
			b := append([]byte(nil), good...)
			b[p.at(start, end)] ^= 0x10
			got, err := parseScalars(b)
			if !errors.Is(err, ErrCorrupt) {
				t.Errorf("record %d, %s flipped: err %v, want ErrCorrupt", r, p.name, err)
			}
			if len(got) != max(r-1, 0) { // record 0 is the file_version event
				t.Errorf("record %d, %s flipped: %d scalars before the error, want %d", r, p.name, len(got), max(r-1, 0))
			}
		}
	}
}

// TestReadTruncated cuts the golden at every byte: a cut at a record
// boundary reads cleanly, any other returns ErrTruncated and the scalars
// of the whole records.
func TestReadTruncated(t *testing.T) {
	_, good := readGolden(t)
	starts := recordStarts(t, good)
	whole := 0
	for n := 0; n < len(good); n++ {
		for whole+1 < len(starts) && starts[whole+1] <= n {
			whole++
		}
		got, err := parseScalars(good[:n])
		atBoundary := n == starts[whole]
		if atBoundary && err != nil || !atBoundary && !errors.Is(err, ErrTruncated) {
			t.Fatalf("cut at %d (record boundary %v): err %v", n, atBoundary, err)
		}
		wantN := max(whole-1, 0) // record 0 is the file_version event
		if len(got) != wantN {
			t.Fatalf("cut at %d: %d scalars, want %d", n, len(got), wantN)
		}
	}
}

// TestReadBadEvent frames bytes that are not an Event: the CRCs pass, the
// protobuf does not.
func TestReadBadEvent(t *testing.T) {
	for name, data := range map[string][]byte{
		"bad key":         {0x00},
		"group wire type": {0x0b},
		"length past end": {0x2a, 0x05, 0x0a},
		"cut fixed64":     {0x09, 1, 2, 3},
		"bad varint":      {0x10, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01},
	} {
		_, err := parseScalars(appendRecord(nil, data))
		if !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: err %v, want ErrCorrupt", name, err)
		}
	}
	path := filepath.Join(t.TempDir(), "bad")
	if err := os.WriteFile(path, appendRecord(nil, []byte{0x00}), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadScalars(path); !errors.Is(err, ErrCorrupt) {
		t.Errorf("ReadScalars: %v, want ErrCorrupt", err)
	}
}

// FuzzParseScalars: no input panics, and what parses re-encodes to
// scalars that parse the same.
func FuzzParseScalars(f *testing.F) {
	good, err := os.ReadFile("testdata/golden.tfevents")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add(appendRecord(nil, scalarEvent(1.5, -3, "t", 2)))
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := parseScalars(b)
		if err != nil {
			return
		}
		var again []byte
		for _, s := range got {
			again = appendRecord(again, scalarEvent(s.WallTime, s.Step, s.Tag, s.Value))
		}
		back, err := parseScalars(again)
		if err != nil || len(back) != len(got) {
			t.Fatalf("re-encoded %d scalars: %d back, %v", len(got), len(back), err)
		}
		for i := range got {
			if !sameScalar(back[i], got[i]) {
				t.Fatalf("scalar %d: %+v re-read as %+v", i, got[i], back[i])
			}
		}
	})
}
