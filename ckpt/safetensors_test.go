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

	"bloom/internal/half"
)

func TestWriteExactBytes(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a.safetensors")
	err := WriteSafetensors(path, F32, []Tensor{{Name: "b", Shape: []int{2}, Data: []float32{1, -2}}},
		[]IntTensor{{Name: "a", Shape: []int{}, Data: []int64{-1}}}, map[string]string{"format": "pt"})
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	js := `{"__metadata__":{"format":"pt"},"a":{"dtype":"I64","shape":[],"data_offsets":[8,16]},` +
		`"b":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}`
	js += strings.Repeat(" ", (8-len(js)%8)%8) // pad so data starts 8-byte aligned
	want := rawSafetensors(js, []byte{
		0, 0, 0x80, 0x3f, 0, 0, 0, 0xc0, // 1, -2 as F32
		0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, // -1 as I64
	})
	if !bytes.Equal(got, want) {
		t.Fatalf("file bytes\n%q\nwant\n%q", got, want)
	}
	if (8+len(js))%8 != 0 {
		t.Fatal("test bug: header not padded")
	}
}

func TestRoundTripWritableDTypes(t *testing.T) {
	special := []float32{0, float32(math.Copysign(0, -1)), 1, -1, 0.5, float32(math.Inf(1)), float32(math.Inf(-1))}
	for _, dt := range []DType{F32, F16, BF16} {
		t.Run(string(dt), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "x.safetensors")
			data := append(seq(3*5), special...)
			rnd := []float32{0.1, 1.0 / 3, 65519, 1e-6, 3e38, -7.77e-8}
			ints := []IntTensor{{Name: "ids", Shape: []int{4}, Data: []int64{0, -1, math.MaxInt64, math.MinInt64}}}
			err := WriteSafetensors(path, dt, []Tensor{
				{Name: "w", Shape: []int{len(data)}, Data: data},
				{Name: "m", Shape: []int{2, 3}, Data: rnd},
				{Name: "empty", Shape: []int{0, 4}, Data: nil},
				{Name: "scalar", Shape: []int{}, Data: []float32{2}},
			}, ints, map[string]string{"k": "v"})
			if err != nil {
				t.Fatal(err)
			}
			f, err := OpenSafetensors(path)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if got, want := f.Names(), []string{"empty", "ids", "m", "scalar", "w"}; !slices.Equal(got, want) {
				t.Fatalf("Names = %v, want %v", got, want)
			}
			if m := f.Metadata(); m["k"] != "v" || len(m) != 1 {
				t.Fatalf("Metadata = %v", m)
			}
			got, shape, err := f.Float32("w")
			if err != nil || !shapeEq(shape, []int{len(data)}) {
				t.Fatalf("Float32(w): %v %v", shape, err)
			}
			for i := range data { // exactly representable in every dtype
				if math.Float32bits(got[i]) != math.Float32bits(data[i]) {
					t.Fatalf("w[%d] = %g, want %g", i, got[i], data[i])
				}
			}
			got, shape, _ = f.Float32("m")
			if !shapeEq(shape, []int{2, 3}) {
				t.Fatalf("shape %v", shape)
			}
			for i, v := range rnd {
				want := v
				switch dt {
				case F16:
					want = half.F16ToF32(half.F32ToF16(v))
				case BF16:
					want = half.BF16ToF32(half.F32ToBF16(v))
				}
				if got[i] != want {
					t.Errorf("m[%d] = %g, want %g", i, got[i], want)
				}
			}
			if got, shape, err := f.Float32("empty"); err != nil || len(got) != 0 || !shapeEq(shape, []int{0, 4}) {
				t.Errorf("empty: %v %v %v", got, shape, err)
			}
			if got, shape, err := f.Float32("scalar"); err != nil || !slices.Equal(got, []float32{2}) || len(shape) != 0 {
				t.Errorf("scalar: %v %v %v", got, shape, err)
			}
			ig, _, err := f.Int64("ids")
			if err != nil || !slices.Equal(ig, ints[0].Data) {
				t.Errorf("ids = %v, %v", ig, err)
			}
			ti, _ := f.Info("w")
			if ti.DType != dt || ti.Begin != 0 || ti.End != int64(len(data)*dt.Size()) {
				t.Errorf("Info(w) = %+v", ti)
			}
			if _, _, err := f.Int64("w"); err == nil {
				t.Error("Int64 of a float tensor succeeded")
			} else {
				wantErr(t, err, ErrDType, path, `"w"`)
			}
			if _, _, err := f.Float32("ids"); err == nil {
				t.Error("Float32 of an int tensor succeeded")
			} else {
				wantErr(t, err, ErrDType)
			}
			_, _, err = f.Float32("nope")
			wantErr(t, err, ErrNotFound, path, `"nope"`)
		})
	}
}

// TestReadAllDTypes reads hand-built files in dtypes this package does not
// write.
func TestReadAllDTypes(t *testing.T) {
	le := binary.LittleEndian
	var f64 []byte
	f64vals := []float64{1.5, 1 + math.Ldexp(1, -24), 1 + 3*math.Ldexp(1, -24), 1e300, -1e300, math.Ldexp(1, -149), math.Ldexp(1, -150)}
	for _, v := range f64vals {
		f64 = le.AppendUint64(f64, math.Float64bits(v))
	}
	f64want := []float32{1.5, 1, 1 + pow2(-22), float32(math.Inf(1)), float32(math.Inf(-1)), math.Float32frombits(1), 0}
	floatCases := []struct {
		dt   DType
		data []byte
		want []float32
	}{
		{F64, f64, f64want},
		{F16, []byte{0x00, 0x3c, 0x01, 0x00, 0x00, 0xfc}, []float32{1, pow2(-24), float32(math.Inf(-1))}},
		{BF16, []byte{0x80, 0x3f, 0x01, 0x00}, []float32{1, math.Float32frombits(0x10000)}},
		{F8E4M3, []byte{0x38, 0x7e}, []float32{1, 448}},
		{F8E5M2, []byte{0x3c, 0xbc}, []float32{1, -1}},
	}
	for _, c := range floatCases {
		n := len(c.data) / c.dt.Size()
		hdr := `{"t":{"dtype":"` + string(c.dt) + `","shape":[` + strconv.Itoa(n) + `],"data_offsets":[0,` + strconv.Itoa(len(c.data)) + `]}}`
		f := openRaw(t, hdr, c.data)
		got, _, err := f.Float32("t")
		if err != nil || !slices.Equal(got, c.want) {
			t.Errorf("%s: got %v, %v; want %v", c.dt, got, err, c.want)
		}
		f.Close()
	}
	intCases := []struct {
		dt   DType
		data []byte
		want []int64
	}{
		{I64, le.AppendUint64(nil, 1<<40), []int64{1 << 40}},
		{I32, []byte{0xff, 0xff, 0xff, 0xff, 5, 0, 0, 0}, []int64{-1, 5}},
		{I16, []byte{0x00, 0x80, 7, 0}, []int64{-32768, 7}},
		{I8, []byte{0x80, 0x7f}, []int64{-128, 127}},
		{U8, []byte{0xff, 0}, []int64{255, 0}},
		{U16, []byte{0xff, 0xff}, []int64{65535}},
		{U32, []byte{0xff, 0xff, 0xff, 0xff}, []int64{1<<32 - 1}},
		{U64, le.AppendUint64(nil, 1<<63-1), []int64{1<<63 - 1}},
		{BOOL, []byte{0, 1, 2}, []int64{0, 1, 1}},
	}
	for _, c := range intCases {
		n := len(c.data) / c.dt.Size()
		hdr := `{"t":{"dtype":"` + string(c.dt) + `","shape":[` + strconv.Itoa(n) + `],"data_offsets":[0,` + strconv.Itoa(len(c.data)) + `]}}`
		f := openRaw(t, hdr, c.data)
		got, _, err := f.Int64("t")
		if err != nil || !slices.Equal(got, c.want) {
			t.Errorf("%s: got %v, %v; want %v", c.dt, got, err, c.want)
		}
		f.Close()
	}
	f := openRaw(t, `{"t":{"dtype":"U64","shape":[1],"data_offsets":[0,8]}}`, le.AppendUint64(nil, 1<<63))
	defer f.Close()
	_, _, err := f.Int64("t")
	wantErr(t, err, ErrDType, "int64")
}

func openRaw(t testing.TB, header string, data []byte) *File {
	t.Helper()
	path := writeTemp(t, "t.safetensors", rawSafetensors(header, data))
	f, err := OpenSafetensors(path)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func TestHeaderPaddingAndMetadata(t *testing.T) {
	// Spaces (and other JSON whitespace) after the object are allowed.
	f := openRaw(t, `{"__metadata__":{"a":"b"},"x":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}      `, []byte{0, 0, 0x80, 0x3f})
	defer f.Close()
	if got, _, err := f.Float32("x"); err != nil || got[0] != 1 {
		t.Fatalf("x = %v, %v", got, err)
	}
	if f.Metadata()["a"] != "b" || slices.Contains(f.Names(), "__metadata__") {
		t.Fatalf("metadata %v names %v", f.Metadata(), f.Names())
	}
	if f.DataStart() != 8+int64(len(`{"__metadata__":{"a":"b"},"x":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}      `)) {
		t.Fatalf("DataStart = %d", f.DataStart())
	}
	b, err := f.Bytes("x")
	if err != nil || !bytes.Equal(b, []byte{0, 0, 0x80, 0x3f}) {
		t.Fatalf("Bytes = %v, %v", b, err)
	}
	// An empty file with no tensors is valid.
	g := openRaw(t, `{}`, nil)
	if len(g.Names()) != 0 || g.Metadata() != nil {
		t.Fatalf("empty file: %v %v", g.Names(), g.Metadata())
	}
	g.Close()
}

func TestBadFiles(t *testing.T) {
	f32 := func(name, offsets string) string {
		return `"` + name + `":{"dtype":"F32","shape":[1],"data_offsets":` + offsets + `}`
	}
	four := []byte{1, 2, 3, 4}
	eight := make([]byte, 8)
	cases := []struct {
		name string
		file []byte
		kind error
		sub  string
	}{
		{"empty file", nil, ErrCorrupt, "too short"},
		{"seven bytes", []byte{1, 2, 3, 4, 5, 6, 7}, ErrCorrupt, "too short"},
		{"header past end", binary.LittleEndian.AppendUint64(nil, 100), ErrCorrupt, "past the end"},
		{"absurd header", append(binary.LittleEndian.AppendUint64(nil, 1<<40), '{', '}'), ErrCorrupt, "limit"},
		{"max u64 header", append(binary.LittleEndian.AppendUint64(nil, math.MaxUint64), '{', '}'), ErrCorrupt, "limit"},
		{"not JSON", rawSafetensors(`hello`, nil), ErrCorrupt, "not a JSON object"},
		{"JSON array", rawSafetensors(`[1,2]`, nil), ErrCorrupt, "not a JSON object"},
		{"truncated JSON", rawSafetensors(`{"a":`, nil), ErrCorrupt, "not a JSON object"},
		{"trailing garbage", rawSafetensors(`{}x`, nil), ErrCorrupt, "trailing"},
		{"two objects", rawSafetensors(`{}{}`, nil), ErrCorrupt, "trailing"},
		{"invalid UTF-8", rawSafetensors("{\"\xff\":1}", nil), ErrCorrupt, "UTF-8"},
		{"entry not object", rawSafetensors(`{"a":5}`, nil), ErrCorrupt, `"a"`},
		{"missing dtype", rawSafetensors(`{"a":{"shape":[1],"data_offsets":[0,4]}}`, four), ErrCorrupt, "missing dtype"},
		{"missing shape", rawSafetensors(`{"a":{"dtype":"F32","data_offsets":[0,4]}}`, four), ErrCorrupt, "missing shape"},
		{"missing offsets", rawSafetensors(`{"a":{"dtype":"F32","shape":[1]}}`, four), ErrCorrupt, "missing data_offsets"},
		{"null shape", rawSafetensors(`{"a":{"dtype":"F32","shape":null,"data_offsets":[0,4]}}`, four), ErrCorrupt, "missing shape"},
		{"unknown dtype", rawSafetensors(`{"a":{"dtype":"F128","shape":[1],"data_offsets":[0,16]}}`, make([]byte, 16)), ErrDType, "F128"},
		{"dtype not string", rawSafetensors(`{"a":{"dtype":4,"shape":[1],"data_offsets":[0,4]}}`, four), ErrCorrupt, `"a"`},
		{"negative dim", rawSafetensors(`{"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}`, four), ErrCorrupt, "bad shape"},
		{"fractional dim", rawSafetensors(`{"a":{"dtype":"F32","shape":[1.5],"data_offsets":[0,4]}}`, four), ErrCorrupt, `"a"`},
		{"huge dim", rawSafetensors(`{"a":{"dtype":"F32","shape":[99999999999999999999],"data_offsets":[0,4]}}`, four), ErrCorrupt, `"a"`},
		{"overflowing shape", rawSafetensors(`{"a":{"dtype":"F32","shape":[2147483647,2147483647,2147483647],"data_offsets":[0,4]}}`, four), ErrCorrupt, "overflows"},
		{"overflow hidden by zero", rawSafetensors(`{"a":{"dtype":"F32","shape":[2147483647,2147483647,2147483647,0],"data_offsets":[0,0]}}`, nil), ErrCorrupt, "overflows"},
		{"one offset", rawSafetensors(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[4]}}`, four), ErrCorrupt, "2"},
		{"three offsets", rawSafetensors(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4,8]}}`, four), ErrCorrupt, "2"},
		{"negative offset", rawSafetensors(`{`+f32("a", "[-4,0]")+`}`, four), ErrCorrupt, "outside"},
		{"begin after end", rawSafetensors(`{`+f32("a", "[4,0]")+`}`, four), ErrCorrupt, "outside"},
		{"end past data", rawSafetensors(`{`+f32("a", "[4,8]")+`}`, four), ErrCorrupt, "outside"},
		{"size mismatch", rawSafetensors(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}}`, four), ErrCorrupt, "needs 8"},
		{"overlap", rawSafetensors(`{`+f32("a", "[0,4]")+`,`+f32("b", "[2,6]")+`}`, eight[:6]), ErrCorrupt, "overlaps"},
		{"same range twice", rawSafetensors(`{`+f32("a", "[0,4]")+`,`+f32("b", "[0,4]")+`}`, four), ErrCorrupt, "overlaps"},
		{"hole", rawSafetensors(`{`+f32("a", "[0,4]")+`,`+f32("b", "[8,12]")+`}`, make([]byte, 12)), ErrCorrupt, "belong to no tensor"},
		{"hole at start", rawSafetensors(`{`+f32("a", "[4,8]")+`}`, eight), ErrCorrupt, "[0, 4)"},
		{"trailing bytes", rawSafetensors(`{`+f32("a", "[0,4]")+`}`, eight), ErrCorrupt, "[4, 8)"},
		{"data with no tensors", rawSafetensors(`{}`, four), ErrCorrupt, "belong to no tensor"},
		{"duplicate name", rawSafetensors(`{`+f32("a", "[0,4]")+`,`+f32("a", "[4,8]")+`}`, eight), ErrCorrupt, "duplicate"},
		{"duplicate metadata", rawSafetensors(`{"__metadata__":{},"__metadata__":{}}`, nil), ErrCorrupt, "duplicate"},
		{"metadata not strings", rawSafetensors(`{"__metadata__":{"a":1}}`, nil), ErrCorrupt, "__metadata__"},
		{"metadata not object", rawSafetensors(`{"__metadata__":"x"}`, nil), ErrCorrupt, "__metadata__"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := writeTemp(t, "bad.safetensors", c.file)
			f, err := OpenSafetensors(path)
			if err == nil {
				f.Close()
				t.Fatal("opened a bad file")
			}
			wantErr(t, err, c.kind, path, c.sub)
			if !strings.HasPrefix(err.Error(), "ckpt: ") {
				t.Errorf("error %q lacks the ckpt: prefix", err)
			}
		})
	}
	_, err := OpenSafetensors(filepath.Join(t.TempDir(), "missing.safetensors"))
	wantErr(t, err, ErrNotFound, "missing.safetensors")
	_, err = OpenSafetensors(t.TempDir())
	if err == nil {
		t.Fatal("opened a directory")
	}
}

func TestClosedFile(t *testing.T) {
	f := openRaw(t, `{"x":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}`, []byte{0, 0, 0x80, 0x3f})
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	_, _, err := f.Float32("x")
	wantErr(t, err, ErrInvalid, "closed")
	if _, ok := f.Info("x"); !ok {
		t.Error("Info after Close lost the header")
	}
}

// TestReadAtFallback reads through the non-mmap path.
func TestReadAtFallback(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.safetensors")
	data := seq(1000)
	if err := WriteSafetensors(path, BF16, []Tensor{{Name: "x", Shape: []int{10, 100}, Data: data}}, nil, nil); err != nil {
		t.Fatal(err)
	}
	f, err := OpenSafetensors(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	munmap(f.mapped)
	f.mapped = nil
	got, _, err := f.Float32("x")
	if err != nil || !slices.Equal(got, data) {
		t.Fatalf("fallback read: %v", err)
	}
}

func TestWriteBadArguments(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "x.safetensors")
	cases := []struct {
		name    string
		dt      DType
		tensors []Tensor
		ints    []IntTensor
		kind    error
		sub     string
	}{
		{"dtype F64", F64, nil, nil, ErrDType, "F64"},
		{"dtype I64", I64, nil, nil, ErrDType, "I64"},
		{"short data", F32, []Tensor{{Name: "a", Shape: []int{2, 2}, Data: seq(3)}}, nil, ErrInvalid, "does not match"},
		{"negative dim", F32, []Tensor{{Name: "a", Shape: []int{-1}, Data: nil}}, nil, ErrInvalid, "bad shape"},
		{"overflowing shape", F32, []Tensor{{Name: "a", Shape: []int{math.MaxInt / 2, 3}, Data: nil}}, nil, ErrInvalid, "bad shape"},
		{"empty name", F32, []Tensor{{Name: "", Shape: []int{1}, Data: seq(1)}}, nil, ErrInvalid, "empty name"},
		{"metadata name", F32, []Tensor{{Name: "__metadata__", Shape: []int{1}, Data: seq(1)}}, nil, ErrInvalid, "reserved"},
		{"duplicate", F32, []Tensor{{Name: "a", Shape: []int{1}, Data: seq(1)}}, []IntTensor{{Name: "a", Shape: []int{1}, Data: []int64{1}}}, ErrInvalid, "duplicate"},
		{"int shape", F32, nil, []IntTensor{{Name: "i", Shape: []int{2}, Data: []int64{1}}}, ErrInvalid, "does not match"},
	}
	for _, c := range cases {
		err := WriteSafetensors(path, c.dt, c.tensors, c.ints, nil)
		if err == nil {
			t.Errorf("%s: no error", c.name)
			continue
		}
		wantErr(t, err, c.kind, path, c.sub)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Fatalf("failed writes left files: %v", entries)
	}
}

// TestConcurrentReads reads one file from many goroutines (run with -race).
func TestConcurrentReads(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.safetensors")
	data := seq(4096)
	if err := WriteSafetensors(path, F16, []Tensor{{Name: "x", Shape: []int{4096}, Data: data}}, nil, nil); err != nil {
		t.Fatal(err)
	}
	f, err := OpenSafetensors(path)
	if err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, 8)
	for range 8 {
		go func() {
			got, _, err := f.Float32("x")
			if err == nil && !slices.Equal(got, data) {
				err = errors.New("wrong values")
			}
			errs <- err
		}()
	}
	for range 8 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestEvict: evicting a tensor's pages loses nothing; it reads back the same,
// and unknown names are ignored.
func TestEvict(t *testing.T) {
	path := filepath.Join(t.TempDir(), "e.safetensors")
	a := make([]float32, 5000) // spans pages
	for i := range a {
		a[i] = float32(i) * 0.5
	}
	ts := []Tensor{{Name: "a", Shape: []int{5000}, Data: a}, {Name: "b", Shape: []int{2}, Data: []float32{1, 2}}}
	if err := WriteSafetensors(path, F32, ts, nil, nil); err != nil {
		t.Fatal(err)
	}
	f, err := OpenSafetensors(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for range 2 {
		for _, want := range ts {
			got, _, err := f.Float32(want.Name)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, want.Data) {
				t.Fatalf("%s read back wrong after Evict", want.Name)
			}
			f.Evict(want.Name)
		}
	}
	f.Evict("missing")
	f.Close()
	f.Evict("a") // closed: ignored
}

// TestStream: a streaming file decodes a tensor of several chunks (F32 and
// BF16) as a plain read does, and again after its pages went.
func TestStream(t *testing.T) {
	vals := make([]float32, streamChunk/4*2+1000) // two chunks and a bit as F32
	for i := range vals {
		vals[i] = float32(i%9973) * 0.25
	}
	for _, dt := range []DType{F32, BF16} {
		path := filepath.Join(t.TempDir(), "s.safetensors")
		if err := WriteSafetensors(path, dt, []Tensor{{Name: "w", Shape: []int{len(vals)}, Data: vals}}, nil, nil); err != nil {
			t.Fatal(err)
		}
		plain, err := OpenSafetensors(path)
		if err != nil {
			t.Fatal(err)
		}
		want, _, err := plain.Float32("w")
		plain.Close()
		if err != nil {
			t.Fatal(err)
		}
		f, err := OpenSafetensors(path)
		if err != nil {
			t.Fatal(err)
		}
		f.Stream()
		for range 2 {
			got, _, err := f.Float32("w")
			if err != nil || !slices.Equal(got, want) {
				t.Fatalf("%s: streamed read differs (%v)", dt, err)
			}
		}
		f.Close()
	}
}
