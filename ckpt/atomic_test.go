package ckpt

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// dirNames lists the file names in dir.
func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

func TestAtomicWriteReplaces(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "w.safetensors")
	if err := os.WriteFile(path, []byte("old content"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := WriteSafetensors(path, F16, []Tensor{{Name: "a", Shape: []int{3}, Data: seq(3)}}, nil, nil); err != nil {
		t.Fatal(err)
	}
	if got := dirNames(t, dir); !slices.Equal(got, []string{"w.safetensors"}) {
		t.Fatalf("directory holds %v, want only the file (no temporary left)", got)
	}
	f, err := OpenSafetensors(path)
	if err != nil {
		t.Fatalf("replaced file does not open: %v", err)
	}
	defer f.Close()
	if got, _, _ := f.Float32("a"); !slices.Equal(got, seq(3)) {
		t.Fatalf("a = %v", got)
	}
	st, _ := os.Stat(path)
	if st.Mode().Perm() != 0o644 {
		t.Errorf("mode %v, want 0644", st.Mode().Perm())
	}
}

func TestAtomicWriteFailureKeepsOld(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "f")
	if err := os.WriteFile(path, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	boom := errors.New("boom")
	err := WriteAtomic(path, func(w io.Writer) error {
		w.Write([]byte("partial new content"))
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("err = %v, want boom", err)
	}
	if got := dirNames(t, dir); !slices.Equal(got, []string{"f"}) {
		t.Fatalf("directory holds %v after a failed write", got)
	}
	if b, _ := os.ReadFile(path); string(b) != "old" {
		t.Fatalf("old file changed to %q", b)
	}
	// A write into a directory that does not exist fails cleanly.
	err = WriteAtomic(filepath.Join(dir, "no", "such"), func(io.Writer) error { return nil })
	wantErr(t, err, ErrNotFound, "no/such")
}
