package tensorboard

import (
	"bytes"
	"encoding/json"
	"math"
	"os"
	"testing"
	"time"
)

// golden is testdata/golden.json: the scalars that
// scripts/tensorboard/golden.py wrote into testdata/golden.tfevents with
// Google's protobuf serializer. Regenerate both with
//
//	/usr/bin/python3 scripts/tensorboard/golden.py
type golden struct {
	Version   int
	Generator string
	Created   struct{ Sec, Nsec int64 }
	Scalars   []struct {
		Sec, Nsec, Step int64
		Tag             string
		Value           float64
	}
}

func readGolden(t *testing.T) (golden, []byte) {
	t.Helper()
	var g golden
	js, err := os.ReadFile("testdata/golden.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(js, &g); err != nil {
		t.Fatal(err)
	}
	if g.Version != 1 {
		t.Fatalf("golden.json version %d, this test reads 1", g.Version)
	}
	events, err := os.ReadFile("testdata/golden.tfevents")
	if err != nil {
		t.Fatal(err)
	}
	return g, events
}

// TestGoldenBytes writes the golden's scalars with the Writer and expects
// protobuf's bytes exactly: same fields, order, omissions and framing.
func TestGoldenBytes(t *testing.T) {
	g, want := readGolden(t)
	w, err := Create(t.TempDir(), time.Unix(g.Created.Sec, g.Created.Nsec))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range g.Scalars {
		if err := w.Scalar(s.Tag, s.Step, s.Value, time.Unix(s.Sec, s.Nsec)); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(w.Path())
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		i := 0
		for i < min(len(got), len(want)) && got[i] == want[i] {
			i++
		}
		t.Fatalf("Writer's file differs from %s's golden at byte %d (len %d, golden %d)", g.Generator, i, len(got), len(want))
	}
}

// TestGoldenRead reads the golden with ReadScalars.
func TestGoldenRead(t *testing.T) {
	g, _ := readGolden(t)
	got, err := ReadScalars("testdata/golden.tfevents")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(g.Scalars) {
		t.Fatalf("read %d scalars, golden.json lists %d", len(got), len(g.Scalars))
	}
	for i, s := range g.Scalars {
		want := Scalar{WallTime: wallTime(time.Unix(s.Sec, s.Nsec)), Step: s.Step, Tag: s.Tag, Value: float32(s.Value)}
		if !sameScalar(got[i], want) {
			t.Errorf("scalar %d: got %+v, want %+v", i, got[i], want)
		}
	}
}

// sameScalar compares bit for bit, so that -0 and NaN compare as stored.
func sameScalar(a, b Scalar) bool {
	return a.Tag == b.Tag && a.Step == b.Step && math.Float64bits(a.WallTime) == math.Float64bits(b.WallTime) &&
		math.Float32bits(a.Value) == math.Float32bits(b.Value)
}
