package ckpt

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// fuzzSeeds are valid and corrupt safetensors files.
func fuzzSeeds(t testing.TB) [][]byte {
	dir := t.TempDir()
	var seeds [][]byte
	for i, dt := range []DType{F32, F16, BF16} {
		path := filepath.Join(dir, string(dt))
		err := WriteSafetensors(path, dt, []Tensor{
			{Name: "a", Shape: []int{2, 3}, Data: seq(6)},
			{Name: "b", Shape: []int{}, Data: []float32{1}},
			{Name: "c", Shape: []int{0}},
		}, []IntTensor{{Name: "ids", Shape: []int{2}, Data: []int64{int64(i), -1}}}, map[string]string{"format": "pt"})
		if err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		seeds = append(seeds, b)
	}
	for _, dt := range []DType{F64, I32, I16, I8, U8, BOOL, U64, F8E4M3, F8E5M2, C64} {
		n := 2 * dt.Size()
		hdr := `{"t":{"dtype":"` + string(dt) + `","shape":[2],"data_offsets":[0,` + strconv.Itoa(n) + `]}}`
		seeds = append(seeds, rawSafetensors(hdr, make([]byte, n)))
	}
	seeds = append(seeds,
		nil,
		[]byte{1, 2, 3},
		binary.LittleEndian.AppendUint64(nil, 1<<62),
		rawSafetensors(`{}`, nil),
		rawSafetensors(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[2,6]}}`, make([]byte, 6)),
		rawSafetensors(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`, make([]byte, 8)),
		rawSafetensors(`{"a":{"dtype":"F16","shape":[-1],"data_offsets":[0,2]}}`, make([]byte, 2)),
		rawSafetensors(`{"__metadata__":{"x":"y"},"a":{"dtype":"X","shape":[1],"data_offsets":[0,1]}}`, make([]byte, 1)),
	)
	return seeds
}

// FuzzOpenSafetensors: any bytes either open, and then every tensor reads
// with the size its header promises, or fail with a ckpt error that names the
// file; never panic. Parsing runs in memory (OpenReaderAt) so the fuzzer is
// fast; inputs that open are also opened from disk (OpenSafetensors, mmap on
// Linux) and must read back identically.
func FuzzOpenSafetensors(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		const name = "fuzz.safetensors"
		mem, err := OpenReaderAt(name, bytes.NewReader(b), int64(len(b)))
		if err != nil {
			if !strings.HasPrefix(err.Error(), "ckpt: "+name+": ") {
				t.Fatalf("error %q does not name the file", err)
			}
			if !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrDType) {
				t.Fatalf("error %q is neither ErrCorrupt nor ErrDType", err)
			}
			return
		}
		want := readEverything(t, mem, int64(len(b)))
		path := filepath.Join(t.TempDir(), name)
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
		disk, err := OpenSafetensors(path)
		if err != nil {
			t.Fatalf("opens from memory, not from disk: %v", err)
		}
		defer disk.Close()
		if got := readEverything(t, disk, int64(len(b))); !slices.Equal(got, want) {
			t.Fatal("disk and memory reads differ")
		}
	})
}

// readEverything reads every tensor of f, checking its info against the
// header rules, and returns the bits of every value read.
func readEverything(t *testing.T, f *File, size int64) []uint64 {
	dataLen := size - f.DataStart()
	var covered int64
	var bits []uint64
	for _, name := range f.Names() {
		ti, ok := f.Info(name)
		if !ok || ti.Begin < 0 || ti.End > dataLen || ti.End-ti.Begin != int64(ti.NumElements()*ti.DType.Size()) {
			t.Fatalf("bad info %+v for %d data bytes", ti, dataLen)
		}
		covered += ti.End - ti.Begin
		n := -1
		switch {
		case ti.DType.IsFloat():
			v, _, err := f.Float32(name)
			if err != nil {
				t.Fatalf("Float32(%q): %v", name, err)
			}
			for _, x := range v {
				bits = append(bits, uint64(math.Float32bits(x)))
			}
			n = len(v)
		case ti.DType.IsInt():
			v, _, err := f.Int64(name)
			if errors.Is(err, ErrDType) && ti.DType == U64 {
				continue // a value past the int64 range
			}
			if err != nil {
				t.Fatalf("Int64(%q): %v", name, err)
			}
			for _, x := range v {
				bits = append(bits, uint64(x))
			}
			n = len(v)
		default:
			raw, err := f.Bytes(name)
			if err != nil {
				t.Fatalf("Bytes(%q): %v", name, err)
			}
			n = len(raw) / ti.DType.Size()
		}
		if n != ti.NumElements() {
			t.Fatalf("%q: read %d elements, shape %v", name, n, ti.Shape)
		}
	}
	if covered != dataLen {
		t.Fatalf("tensors cover %d of %d data bytes", covered, dataLen)
	}
	return bits
}

// TestFuzzSeedsValid makes sure the valid seeds really are valid, so the
// fuzzer starts from files that exercise the read paths.
func TestFuzzSeedsValid(t *testing.T) {
	opened := 0
	for _, s := range fuzzSeeds(t) {
		f, err := OpenSafetensors(writeTemp(t, "s", s))
		if err == nil {
			opened++
			f.Close()
		}
	}
	if opened < 13 {
		t.Fatalf("only %d seeds open", opened)
	}
}
