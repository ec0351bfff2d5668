package ckpt

import (
	"archive/zip"
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// The fixtures under testdata/torch were written by torch.save
// (scripts/torchpt/gen_fixtures.py; the version is in testdata/torch/VERSION).

// ramp is the fixtures' formula: (i - base) * scale.
func ramp(n int, scale float32, base int) []float32 {
	out := make([]float32, n)
	for i := range out {
		out[i] = float32(i-base) * scale
	}
	return out
}

func get(t *testing.T, d any, keys ...string) any {
	t.Helper()
	for _, k := range keys {
		dd, ok := d.(*Dict)
		if !ok {
			t.Fatalf("%s: parent is a %T", k, d)
		}
		if d, ok = dd.Get(k); !ok {
			t.Fatalf("no key %q", k)
		}
	}
	return d
}

func floats(t *testing.T, v any, shape ...int) []float32 {
	t.Helper()
	tt, ok := v.(*TorchTensor)
	if !ok {
		t.Fatalf("a %T, not a tensor", v)
	}
	if !slices.Equal(tt.Shape, shape) {
		t.Fatalf("shape %v, want %v", tt.Shape, shape)
	}
	f, err := tt.Float32()
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func TestReadTorchBasic(t *testing.T) {
	pt, err := OpenTorch("testdata/torch/basic.pt", false)
	if err != nil {
		t.Fatal(err)
	}
	defer pt.Close()
	r := pt.Root
	sd := get(t, r, "state_dict").(*Dict)
	if !sd.Ordered() || sd.Len() != 8 {
		t.Fatalf("state_dict: ordered %v, %d items", sd.Ordered(), sd.Len())
	}
	if k, _ := sd.Item(0); k != "f32" {
		t.Errorf("first key %v", k)
	}
	for _, c := range []struct {
		key   string
		shape []int
		want  []float32
	}{
		{"f32", []int{2, 3}, ramp(6, 0.25, 3)},
		{"f16", []int{4}, ramp(4, 0.25, 3)},
		{"bf16", []int{3, 2}, ramp(6, 0.25, 3)},
		{"transposed", []int{3, 2}, []float32{-0.75, 0, -0.5, 0.25, -0.25, 0.5}},
		{"big", []int{4, 3}, ramp(12, 0.25, 3)},
		{"row2", []int{3}, ramp(12, 0.25, 3)[6:9]},
	} {
		if got := floats(t, get(t, sd, c.key), c.shape...); !slices.Equal(got, c.want) {
			t.Errorf("%s = %v, want %v", c.key, got, c.want)
		}
	}
	ints, err := get(t, sd, "i64").(*TorchTensor).Int64()
	if err != nil || !slices.Equal(ints, []int64{-2, 998, 1998, 2998, 3998}) {
		t.Errorf("i64 = %v, %v", ints, err)
	}
	if got := floats(t, get(t, sd, "nested", "a", "b"), 2); !slices.Equal(got, ramp(2, 0.25, 3)) {
		t.Errorf("nested = %v", got)
	}
	wantInts := []any{int64(0), int64(255), int64(256), int64(65535), int64(65536), int64(-1), int64(-1 << 31), int64(1 << 40), int64(-1 << 40)}
	if got := get(t, r, "ints"); !slices.Equal(got.([]any), wantInts) {
		t.Errorf("ints = %v", got)
	}
	if got := get(t, r, "floats").([]any); !slices.Equal(got, []any{0.5, -1e-8, 3.0}) {
		t.Errorf("floats = %v", got)
	}
	if got := get(t, r, "strs").([]any); !slices.Equal(got, []any{"", "ascii", "ünïcödé"}) {
		t.Errorf("strs = %v", got)
	}
	if got := get(t, r, "tuple").(Tuple); !slices.Equal(got, Tuple{int64(1), "two", nil}) {
		t.Errorf("tuple = %v", got)
	}
	if get(t, r, "none") != nil || !slices.Equal(get(t, r, "flags").([]any), []any{true, false}) {
		t.Error("none or flags")
	}
	if g := get(t, r, "dtype"); g != (Global{"torch", "float16"}) {
		t.Errorf("dtype = %v", g)
	}
	if s := get(t, r, "size").(Tuple); !slices.Equal(s, Tuple{int64(2), int64(3)}) {
		t.Errorf("size = %v", s)
	}
	args := get(t, r, "args").(*Dict)
	if args.Class != "argparse.Namespace" || get(t, args, "hidden_size") != int64(8) || get(t, args, "lr") != 3e-4 ||
		get(t, args, "name") != "bloom" || get(t, args, "vocab") != nil {
		t.Errorf("args = %+v", args)
	}
}

func TestReadTorchClientState(t *testing.T) {
	_, err := OpenTorch("testdata/torch/client_state.pt", false)
	if !errors.Is(err, ErrUnsupported) {
		t.Fatalf("strict read of numpy RNG state: %v, want ErrUnsupported", err)
	}
	t.Log(err)
	pt, err := OpenTorch("testdata/torch/client_state.pt", true)
	if err != nil {
		t.Fatal(err)
	}
	defer pt.Close()
	if it := get(t, pt.Root, "iteration"); it != int64(512) {
		t.Errorf("iteration %v", it)
	}
	if c := get(t, pt.Root, "args", "consumed_train_samples"); c != int64(4096) {
		t.Errorf("consumed %v", c)
	}
	if get(t, pt.Root, "module") != nil {
		t.Error("module is not None")
	}
	rng := get(t, pt.Root, "rng_state").([]any)[0]
	if np, ok := get(t, rng, "np_rng_state").(Tuple); !ok || len(np) < 2 || np[0] != "MT19937" {
		t.Errorf("np_rng_state is %v", np)
	} else if _, ok := np[1].(*Object); !ok {
		t.Errorf("np_rng_state[1] is a %T, want an opaque *Object", np[1])
	}
	if tt, ok := get(t, rng, "torch_rng_state").(*TorchTensor); !ok || tt.DType != U8 {
		t.Errorf("torch_rng_state is %v", tt)
	}
}

// goWritten is what TestWriteTorch writes; testdata/torch/go_written.pt is
// its checked-in output, which scripts/torchpt/check_written.py loads with
// torch.load and checks value by value.
func goWritten() *Dict {
	sd := NewOrderedDict().
		Set("f32", NewTorchTensor(F32, []int{2, 3}, ramp(6, 0.25, 3))).
		Set("f16", NewTorchTensor(F16, []int{4}, ramp(4, 0.25, 3))).
		Set("bf16", NewTorchTensor(BF16, []int{3, 2}, ramp(6, 0.25, 3))).
		Set("i64", NewTorchIntTensor([]int{3}, []int64{-2, 1 << 40, 7})).
		Set("scalar", NewTorchTensor(F32, nil, []float32{1.5})).
		Set("lazy", LazyTorchTensor(F32, []int{2, 2}, func() ([]float32, error) { return ramp(4, 1, 0), nil }))
	return NewDict().
		Set("state_dict", sd).
		Set("iteration", 512).
		Set("ints", []any{0, 255, 256, 65535, 65536, -1, int64(-1 << 31), int64(1 << 40), int64(-1 << 40)}).
		Set("lr", 3e-4).
		Set("name", "ünïcödé").
		Set("none", nil).
		Set("flags", []any{true, false}).
		Set("tuple", Tuple{1, "two", nil}).
		Set("layers", []int{6, 6, 4}).
		Set("nested", map[string]any{"b": 2, "a": NewDict().Set("x", 1.0)})
}

func TestWriteTorch(t *testing.T) {
	path := filepath.Join(t.TempDir(), "w.pt")
	var seen []int
	if err := WriteTorch(path, goWritten(), func(done, total int) { seen = append(seen, done, total) }); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(seen, []int{1, 6, 2, 6, 3, 6, 4, 6, 5, 6, 6, 6}) {
		t.Errorf("progress %v", seen)
	}
	got, _ := os.ReadFile(path)
	if os.Getenv("BLOOM_UPDATE_TORCH") != "" {
		if err := os.WriteFile("testdata/torch/go_written.pt", got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile("testdata/torch/go_written.pt")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("WriteTorch's output differs from testdata/torch/go_written.pt (the file torch.load was checked on); " +
			"if the change is meant, rerun with BLOOM_UPDATE_TORCH=1 and scripts/torchpt/check_written.py")
	}
	// And it reads back.
	pt, err := OpenTorch(path, false)
	if err != nil {
		t.Fatal(err)
	}
	defer pt.Close()
	sd := get(t, pt.Root, "state_dict").(*Dict)
	if !sd.Ordered() {
		t.Error("not an OrderedDict")
	}
	if f := floats(t, get(t, sd, "bf16"), 3, 2); !slices.Equal(f, ramp(6, 0.25, 3)) {
		t.Errorf("bf16 %v", f)
	}
	if f := floats(t, get(t, sd, "lazy"), 2, 2); !slices.Equal(f, ramp(4, 1, 0)) {
		t.Errorf("lazy %v", f)
	}
	if f := floats(t, get(t, sd, "scalar")); !slices.Equal(f, []float32{1.5}) {
		t.Errorf("scalar %v", f)
	}
	if v := get(t, pt.Root, "nested", "a", "x"); v != 1.0 {
		t.Errorf("nested %v", v)
	}
	if v := get(t, pt.Root, "ints").([]any); v[7] != int64(1<<40) || v[8] != int64(-1<<40) {
		t.Errorf("ints %v", v)
	}
}

func TestTorchAlignment(t *testing.T) {
	path := filepath.Join(t.TempDir(), "w.pt")
	if err := WriteTorch(path, goWritten(), nil); err != nil {
		t.Fatal(err)
	}
	pt, err := OpenTorch(path, false)
	if err != nil {
		t.Fatal(err)
	}
	defer pt.Close()
	for _, zf := range pt.zr.File {
		off, err := zf.DataOffset()
		if err != nil || off%64 != 0 {
			t.Errorf("%s at %d (%v): not 64-byte aligned", zf.Name, off, err)
		}
	}
}

func TestReadTorchRejects(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "legacy.pt")
	os.WriteFile(bad, []byte("\x80\x02\x8a\x0alegacy"), 0o644)
	if _, err := OpenTorch(bad, false); !errors.Is(err, ErrUnsupported) {
		t.Errorf("legacy format: %v", err)
	}
	for _, p := range [][]byte{
		[]byte("\x80\x02cos\nsystem\n(X\x02\x00\x00\x00lst R."), // a call of os.system
		[]byte("\x80\x02}(X\x01\x00\x00\x00a"),                  // truncated
		[]byte("\x80\x02s."),                                    // underflow
		[]byte("\x80\x02\xff."),                                 // unknown opcode
	} {
		if _, err := unpickle(p, nil, false); err == nil {
			t.Errorf("%q: no error", p)
		} else {
			t.Log(err)
		}
	}
}

func FuzzUnpickle(f *testing.F) {
	b, _ := os.ReadFile("testdata/torch/go_written.pt")
	f.Add(b)
	f.Add([]byte("\x80\x02}q\x00(X\x01\x00\x00\x00aK\x01u."))
	f.Fuzz(func(t *testing.T, b []byte) {
		unpickle(b, func(any) (any, error) { return nil, errors.New("no") }, true)
	})
}

// TestWriteTorchChunkedRecord: a tensor of several conversion chunks is
// written a chunk at a time with the CRC and size of its whole bytes
// (archive/zip checks the CRC as it reads the record).
func TestWriteTorchChunkedRecord(t *testing.T) {
	vals := make([]float32, 40000)
	for i := range vals {
		vals[i] = float32(i)*0.37 - 1000
	}
	for _, dt := range []DType{F32, F16, BF16} {
		path := filepath.Join(t.TempDir(), "w.pt")
		if err := WriteTorch(path, LazyTorchTensor(dt, []int{200, 200}, func() ([]float32, error) { return vals, nil }), nil); err != nil {
			t.Fatal(err)
		}
		zr, err := zip.OpenReader(path)
		if err != nil {
			t.Fatal(err)
		}
		want := appendFloats(nil, vals, dt)
		found := false
		for _, f := range zr.File {
			if !strings.HasSuffix(f.Name, "/data/0") {
				continue
			}
			found = true
			r, err := f.Open()
			if err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(r) // fails on a CRC mismatch
			r.Close()
			if err != nil || !bytes.Equal(got, want) {
				t.Errorf("%s: record of %d bytes, err %v; want %d bytes", dt, len(got), err, len(want))
			}
		}
		zr.Close()
		if !found {
			t.Errorf("%s: no data record", dt)
		}
	}
}
