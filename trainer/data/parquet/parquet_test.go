package parquet

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

const pqRef = "testdata"

// parquetExpected is testdata/expected.json, written with
// the files by scripts/data/gen_parquet.mjs (the Rust parquet crate).
type parquetExpected struct {
	Version int                             `json:"version"`
	Files   map[string]string               `json:"files"`
	Rows    map[string]map[string][]*string `json:"rows"`
}

func loadParquetExpected(t testing.TB) parquetExpected {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(pqRef, "expected.json"))
	if err != nil {
		t.Fatal(err)
	}
	var e parquetExpected
	if err := json.Unmarshal(b, &e); err != nil {
		t.Fatal(err)
	}
	if e.Version != 1 {
		t.Fatalf("expected.json version %d, want 1: regenerate with scripts/data/gen_parquet.mjs", e.Version)
	}
	return e
}

// readColumn reads a whole column over every row group.
func readColumn(p *File, name string) ([]*string, error) {
	var out []*string
	for rg := 0; rg < p.NumRowGroups(); rg++ {
		vals, null, err := p.ReadStrings(rg, name)
		if err != nil {
			return nil, err
		}
		for i := range vals {
			if null != nil && null[i] {
				out = append(out, nil)
			} else {
				out = append(out, &vals[i])
			}
		}
	}
	return out, nil
}

func TestParquetMatchesWriter(t *testing.T) {
	e := loadParquetExpected(t)
	var names []string
	for f := range e.Files {
		if !strings.HasPrefix(f, "unsupported/") {
			names = append(names, f)
		}
	}
	sort.Strings(names)
	if len(names) < 21 {
		t.Fatalf("only %d fixtures", len(names))
	}
	for _, name := range names {
		p, err := Open(filepath.Join(pqRef, name))
		if err != nil {
			t.Fatal(err)
		}
		for col, want := range e.Rows[e.Files[name]] {
			got, err := readColumn(p, col)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			if int64(len(got)) != p.NumRows() || len(got) != len(want) {
				t.Fatalf("%s %s: %d rows, footer %d, writer %d", name, col, len(got), p.NumRows(), len(want))
			}
			for i := range want {
				if (got[i] == nil) != (want[i] == nil) || got[i] != nil && *got[i] != *want[i] {
					t.Fatalf("%s %s row %d: %v, writer %v", name, col, i, show(got[i]), show(want[i]))
				}
			}
		}
		p.Close()
	}
}

func show(s *string) string {
	if s == nil {
		return "null"
	}
	return `"` + *s + `"`
}

func TestParquetErrors(t *testing.T) {
	for _, c := range []struct{ file, col, want string }{
		{"unsupported/lz4_raw.parquet", "text", "compression LZ4_RAW is not supported"},
		{"unsupported/int_column.parquet", "n", "not BYTE_ARRAY"},
		{"unsupported/int_column.parquet", "nope", `no column "nope"`},
	} {
		p, err := Open(filepath.Join(pqRef, c.file))
		if err != nil {
			t.Fatal(err)
		}
		_, _, err = p.ReadStrings(0, c.col)
		if err == nil || !strings.Contains(err.Error(), c.file) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s %s: err = %v, want %q", c.file, c.col, err, c.want)
		}
		if c.col != "nope" && (!errors.Is(err, ErrFormat) || !strings.Contains(err.Error(), `row group 0, column "`+c.col+`"`)) {
			t.Errorf("%s: err = %v does not name the row group and column", c.file, err)
		}
		p.Close()
	}
	if _, err := Open(filepath.Join("..", "testdata", "dataset", "gpt", "small_u16.idx")); err == nil || !strings.Contains(err.Error(), "not a parquet file") {
		t.Errorf("not parquet: err = %v", err)
	}
}

// TestParquetCorrupt truncates and flips bytes of real files: every read
// ends in a value or an error naming the file, never a panic.
func TestParquetCorrupt(t *testing.T) {
	for _, name := range []string{"matrix/snappy_v1_dict.parquet", "matrix/zstd_v2_plain.parquet", "matrix/gzip_v1_plain.parquet", "delta/delta_byte_array.parquet"} {
		b, err := os.ReadFile(filepath.Join(pqRef, name))
		if err != nil {
			t.Fatal(err)
		}
		for n := 0; n < len(b); n += 97 {
			if err := readAllParquet(name, b[:n]); err == nil || !strings.Contains(err.Error(), name) {
				t.Fatalf("%s truncated to %d bytes: err = %v", name, n, err)
			}
		}
		for i := 0; i < len(b); i += 13 {
			c := bytes.Clone(b)
			c[i] ^= 0x5a
			if err := readAllParquet(name, c); err != nil && !strings.Contains(err.Error(), name) {
				t.Fatalf("%s with byte %d flipped: error does not name the file: %v", name, i, err)
			}
		}
	}
}

// readAllParquet opens an in-memory file and reads every string column.
func readAllParquet(name string, b []byte) error {
	p, err := newParquet(name, bytes.NewReader(b), int64(len(b)))
	if err != nil {
		return err
	}
	defer p.Close()
	for col := range p.columns {
		if _, err := readColumn(p, col); err != nil {
			return err
		}
	}
	return nil
}

func FuzzParquet(f *testing.F) {
	for _, name := range []string{"matrix/snappy_v1_dict.parquet", "matrix/zstd_v2_plain.parquet",
		"matrix/gzip_v2_dict.parquet", "matrix/none_v1_plain.parquet", "delta/delta_byte_array.parquet", "delta/delta_length.parquet"} {
		b, err := os.ReadFile(filepath.Join(pqRef, name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		readAllParquet("fuzz.parquet", b)
	})
}

func TestDecodeHybrid(t *testing.T) {
	// RLE run of 3 × 5 (width 3), then one bit-packed group of 8 values 0..7.
	b := []byte{3 << 1, 5, 1<<1 | 1, 0x88, 0xc6, 0xfa}
	got, err := decodeHybrid(b, 3, 11, nil)
	want := []uint32{5, 5, 5, 0, 1, 2, 3, 4, 5, 6, 7}
	if err != nil || len(got) != len(want) {
		t.Fatalf("decodeHybrid = %v, %v", got, err)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("decodeHybrid = %v, want %v", got, want)
		}
	}
	if _, err := decodeHybrid(b[:4], 3, 11, nil); err == nil {
		t.Error("truncated bit-packed run accepted")
	}
}
