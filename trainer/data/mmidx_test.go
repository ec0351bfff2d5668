package data

import (
	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"bloom/internal/testutil"
)

// readAll returns every sequence of a dataset.
func readAll(t testing.TB, d *Indexed) [][]int32 {
	t.Helper()
	out := make([][]int32, d.Len())
	for i := range out {
		var err error
		if out[i], err = d.Get(nil, i, 0, -1); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// TestIndexedWriterMatchesMegatron rewrites the numpy-written datasets (one
// uint16, one int32 with empty sequences) and expects the same bytes.
func TestIndexedWriterMatchesMegatron(t *testing.T) {
	for _, name := range []string{"small_u16", "mixed_i32"} {
		ref, err := OpenIndexed(filepath.Join(gptRef, name))
		if err != nil {
			t.Fatal(err)
		}
		seqs := readAll(t, ref)
		docIdx := ref.DocIdx()
		if len(docIdx) != len(seqs)+1 {
			t.Fatalf("%s: doc_idx has %d entries for %d sequences", name, len(docIdx), len(seqs))
		}
		out := filepath.Join(t.TempDir(), name)
		w, err := CreateIndexed(out, ref.DType())
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range seqs {
			if err := w.AddItem(s); err != nil {
				t.Fatal(err)
			}
			w.EndDocument()
		}
		if err := w.Commit(); err != nil {
			t.Fatal(err)
		}
		ref.Close()
		testutil.SameFile(t, BinPath(out), BinPath(filepath.Join(gptRef, name)))
		testutil.SameFile(t, IndexPath(out), IndexPath(filepath.Join(gptRef, name)))
	}
}

func TestIndexedWriterAbortLeavesNothing(t *testing.T) {
	dir := t.TempDir()
	w, err := CreateIndexed(filepath.Join(dir, "x"), DTypeUint16)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.AddItem([]int32{1, 2, 3}); err != nil {
		t.Fatal(err)
	}
	w.EndDocument()
	if err := w.AddItem([]int32{70000}); err == nil || !strings.Contains(err.Error(), "uint16") {
		t.Errorf("token 70000 in uint16: err = %v", err)
	}
	if exists(filepath.Join(dir, "x.bin")) || exists(filepath.Join(dir, "x.idx")) {
		t.Error("final names exist before Commit")
	}
	w.Abort()
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("Abort left %v", ents)
	}
}

func TestIndexedGet(t *testing.T) {
	d, err := OpenIndexed(filepath.Join(gptRef, "small_u16"))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	all, _ := d.Get(nil, 3, 0, -1)
	part, err := d.Get(nil, 3, 1, 2)
	if err != nil || len(part) != 2 || part[0] != all[1] || part[1] != all[2] {
		t.Fatalf("Get(3, 1, 2) = %v, %v; sequence %v", part, err, all)
	}
	for _, c := range [][3]int{{-1, 0, 1}, {d.Len(), 0, 1}, {3, 0, len(all) + 1}, {3, -1, 1}} {
		if _, err := d.Get(nil, c[0], c[1], c[2]); err == nil {
			t.Errorf("Get%v accepted", c)
		}
	}
}

// corrupt writes a copy of small_u16 into a temp dir after applying edit to
// the index and bin images, and returns its prefix.
func corrupt(t *testing.T, edit func(idx, bin []byte) ([]byte, []byte)) string {
	t.Helper()
	src := filepath.Join(gptRef, "small_u16")
	idx, _ := os.ReadFile(IndexPath(src))
	bin, _ := os.ReadFile(BinPath(src))
	idx, bin = edit(idx, bin)
	p := filepath.Join(t.TempDir(), "bad")
	os.WriteFile(IndexPath(p), idx, 0o644)
	os.WriteFile(BinPath(p), bin, 0o644)
	return p
}

func TestOpenIndexedRejectsBadFiles(t *testing.T) {
	le := binary.LittleEndian
	cases := []struct {
		name, want, file string
		edit             func(idx, bin []byte) ([]byte, []byte)
	}{
		{"magic", "wrong magic", ".idx", func(i, b []byte) ([]byte, []byte) { i[0] = 'X'; return i, b }},
		{"version", "version 2", ".idx", func(i, b []byte) ([]byte, []byte) { le.PutUint64(i[9:], 2); return i, b }},
		{"float dtype", "holds no tokens", ".idx", func(i, b []byte) ([]byte, []byte) { i[17] = 6; return i, b }},
		{"truncated header", "truncated header", ".idx", func(i, b []byte) ([]byte, []byte) { return i[:20], b }},
		{"truncated index", "more than the file", ".idx", func(i, b []byte) ([]byte, []byte) { return i[:len(i)-5], b }},
		{"huge count", "more than the file", ".idx", func(i, b []byte) ([]byte, []byte) { le.PutUint64(i[18:], 1<<62); return i, b }},
		{"pointer", "pointer of sequence 1", ".idx", func(i, b []byte) ([]byte, []byte) {
			n := le.Uint64(i[18:])
			le.PutUint64(i[mmidxHeaderLen+4*n+8:], 1)
			return i, b
		}},
		{"doc_idx", "doc_idx", ".idx", func(i, b []byte) ([]byte, []byte) { le.PutUint64(i[len(i)-8:], 1<<40); return i, b }},
		{"short bin", "shorter than", ".bin", func(i, b []byte) ([]byte, []byte) { return i, b[:len(b)-2] }},
		{"long bin", "does the .idx belong", ".bin", func(i, b []byte) ([]byte, []byte) { return i, append(b, 0, 0) }},
	}
	for _, c := range cases {
		p := corrupt(t, c.edit)
		_, err := OpenIndexed(p)
		if err == nil || !errors.Is(err, ErrBadIndex) || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), p+c.file) {
			t.Errorf("%s: err = %v; want ErrBadIndex naming %s and saying %q", c.name, err, p+c.file, c.want)
		}
	}
	if _, err := OpenIndexed(filepath.Join(t.TempDir(), "missing")); err == nil || !strings.Contains(err.Error(), "missing.idx") {
		t.Errorf("missing files: err = %v", err)
	}
}

// FuzzOpenIndexed: any .idx either opens into a dataset whose every
// sequence reads, or fails with an error; never a panic.
func FuzzOpenIndexed(f *testing.F) {
	for _, name := range []string{"small_u16", "mixed_i32"} {
		idx, _ := os.ReadFile(IndexPath(filepath.Join(gptRef, name)))
		f.Add(idx, 0)
		f.Add(idx[:len(idx)/2], 1)
	}
	f.Add([]byte(mmidxMagic), 2)
	f.Fuzz(func(t *testing.T, idx []byte, binLen int) {
		if binLen < 0 || binLen > 1<<16 {
			binLen = 0
		}
		bin := bytes.Repeat([]byte{1}, binLen)
		// Give a plausible .bin where the pointers imply a size.
		if d := (&Indexed{}); d.parseIndex(idx) == nil && len(d.sizes) > 0 {
			n := d.pointer(len(d.sizes)-1) + int64(d.sizes[len(d.sizes)-1])*int64(d.dtype.Size())
			if n >= 0 && n < 1<<20 {
				bin = make([]byte, n)
			}
		}
		d := &Indexed{prefix: "fuzz"}
		if d.parseIndex(idx) != nil {
			return
		}
		d.bin = bin
		if d.checkBin() != nil {
			return
		}
		readAll(t, d)
		d.DocIdx()
	})
}
