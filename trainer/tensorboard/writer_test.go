package tensorboard

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"
)

func TestFileName(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "tb", "run1") // created by Create
	now := time.Unix(1700000000, 5e8)
	a, err := Create(dir, now)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := Create(dir, now)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	host, _ := os.Hostname()
	re := regexp.MustCompile(`^events\.out\.tfevents\.1700000000\.` + regexp.QuoteMeta(host) +
		fmt.Sprintf(`\.%d\.\d+$`, os.Getpid()))
	for _, w := range []*Writer{a, b} {
		if filepath.Dir(w.Path()) != dir || !re.MatchString(filepath.Base(w.Path())) {
			t.Errorf("path %s: want %s/%s", w.Path(), dir, re)
		}
	}
	if a.Path() == b.Path() {
		t.Errorf("two writers share %s", a.Path())
	}
}

// TestRoundTrip writes more than flushAt bytes, with the values the golden
// cannot hold (infinities, NaN), and checks that the file holds only whole
// records at every point: what the Writer wrote on its own before Flush,
// then everything after it.
func TestRoundTrip(t *testing.T) {
	w, err := Create(t.TempDir(), time.Unix(1700000000, 0))
	if err != nil {
		t.Fatal(err)
	}
	special := []float64{math.Inf(1), math.Inf(-1), math.NaN(), 1e39, -1e-46}
	var want []Scalar
	for i := range 3000 {
		wall := time.Unix(1700000000+int64(i), int64(i)*1000)
		v := float64(i) * 0.5
		if i < len(special) {
			v = special[i]
		}
		tag := fmt.Sprintf("%s/%d", TagLMLoss, i%7)
		if err := w.Scalar(tag, int64(i), v, wall); err != nil {
			t.Fatal(err)
		}
		want = append(want, Scalar{WallTime: wallTime(wall), Step: int64(i), Tag: tag, Value: float32(v)})
	}
	part, err := ReadScalars(w.Path())
	if err != nil {
		t.Fatalf("before Flush: %v", err)
	}
	if len(part) == 0 || len(part) == len(want) {
		t.Fatalf("before Flush the file holds %d of %d scalars; want some, not all (flushAt %d)", len(part), len(want), flushAt)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	got, err := ReadScalars(w.Path())
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("read %d scalars, wrote %d", len(got), len(want))
	}
	for i := range want {
		if !sameScalar(got[i], want[i]) {
			t.Fatalf("scalar %d: got %+v, want %+v", i, got[i], want[i])
		}
	}
	if !math.IsNaN(float64(got[2].Value)) || !math.IsInf(float64(got[3].Value), 1) {
		t.Errorf("NaN and float32 overflow: got %v, %v", got[2].Value, got[3].Value)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestWriterErrors(t *testing.T) {
	w, err := Create(t.TempDir(), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Scalar("", 1, 1, time.Now()); err == nil {
		t.Error("empty tag accepted")
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	for name, err := range map[string]error{
		"Scalar": w.Scalar("x", 1, 1, time.Now()),
		"Flush":  w.Flush(),
		"Close":  w.Close(),
	} {
		if !errors.Is(err, ErrClosed) {
			t.Errorf("%s after Close: %v, want ErrClosed", name, err)
		}
	}
	if _, err := Create(filepath.Join(w.Path(), "sub"), time.Now()); err == nil {
		t.Error("Create under a file succeeded")
	}
}
