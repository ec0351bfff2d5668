package preprocess

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"unicode/utf8"

	"bloom/trainer/data"
	"bloom/trainer/data/parquet"
)

// ErrBadInput marks a record preprocessing cannot use: invalid JSON or
// UTF-8, a missing key, a value that is not a string.
var ErrBadInput = errors.New("preprocess: bad input")

// ListInputs expands path into the files to preprocess: a file is itself; a
// directory gives its .parquet, .jsonl and .json files (ListFiles) sorted by
// name, which fixes the document order. (Megatron takes a directory's files
// in the order the filesystem lists them.)
func ListInputs(path string) ([]string, error) {
	out, err := data.ListFiles(path, func(name string) bool {
		switch strings.ToLower(filepath.Ext(name)) {
		case ".parquet", ".jsonl", ".json":
			return true
		}
		return false
	})
	if err == nil && len(out) == 0 {
		err = fmt.Errorf("preprocess: %s has no .parquet, .jsonl or .json files", path)
	}
	return out, err
}

// record is one input row: the values of the wanted keys, in key order.
// A JSON line travels raw, with its file and line, and is decoded by the
// tokenizing workers (decoding JSON costs as much as a third of tokenizing,
// too much for the one reading goroutine).
type record struct {
	fields []string
	pos    int64 // input bytes consumed once this record is read, over all files
	raw    []byte
	file   string
	line   int64
}

// decode fills fields from raw, if the record came as a JSON line.
func (rec *record) decode(keys []string) error {
	if rec.raw == nil {
		return nil
	}
	fields, err := jsonObject(rec.raw, keys)
	if err != nil {
		return fmt.Errorf("%w: %s:%d: %v", ErrBadInput, rec.file, rec.line, err)
	}
	rec.fields, rec.raw = fields, nil
	return nil
}

// inputReader reads records from a list of files in order.
type inputReader struct {
	files []string
	keys  []string
	emit  func(record) error
	base  int64 // bytes of the files before the current one
}

// totalBytes is the size of all input files.
func totalBytes(files []string) int64 {
	var n int64
	for _, f := range files {
		if st, err := os.Stat(f); err == nil {
			n += st.Size()
		}
	}
	return n
}

// run reads every file, calling emit for each record.
func (r *inputReader) run() error {
	for _, f := range r.files {
		st, err := os.Stat(f)
		if err != nil {
			return fmt.Errorf("preprocess: %w", err)
		}
		if strings.EqualFold(filepath.Ext(f), ".parquet") {
			err = r.parquet(f, st.Size())
		} else {
			err = r.json(f)
		}
		if err != nil {
			return err
		}
		r.base += st.Size()
	}
	return nil
}

// parquet emits the rows of a parquet file.
func (r *inputReader) parquet(path string, size int64) error {
	p, err := parquet.Open(path)
	if err != nil {
		return err
	}
	defer p.Close()
	for _, k := range r.keys {
		if !p.HasColumn(k) {
			return fmt.Errorf("%w: %s: no column %q (check --json-keys)", ErrBadInput, path, k)
		}
	}
	var row int64
	for rg := 0; rg < p.NumRowGroups(); rg++ {
		cols := make([][]string, len(r.keys))
		for i, k := range r.keys {
			vals, null, err := p.ReadStrings(rg, k)
			if err != nil {
				return err
			}
			if err := checkColumn(path, rg, row, k, vals, null); err != nil {
				return err
			}
			cols[i] = vals
		}
		n := int64(len(cols[0]))
		for i := int64(0); i < n; i++ {
			fields := make([]string, len(r.keys))
			for k := range r.keys {
				fields[k] = cols[k][i]
			}
			pos := r.base + int64(float64(size)*float64(row+i+1)/float64(max(p.NumRows(), 1)))
			if err := r.emit(record{fields: fields, pos: pos}); err != nil {
				return err
			}
		}
		row += n
	}
	return nil
}

// checkColumn rejects nulls and invalid UTF-8 in a row group's column.
func checkColumn(path string, rg int, first int64, key string, vals []string, null []bool) error {
	for i, v := range vals {
		if null != nil && null[i] {
			return fmt.Errorf("%w: %s: row %d (row group %d): %q is null", ErrBadInput, path, first+int64(i), rg, key)
		}
		if !utf8.ValidString(v) {
			return fmt.Errorf("%w: %s: row %d (row group %d): %q is not valid UTF-8", ErrBadInput, path, first+int64(i), rg, key)
		}
	}
	return nil
}

// json emits the objects of a JSON-lines file, or of a JSON array file.
func (r *inputReader) json(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("preprocess: %w", err)
	}
	defer f.Close()
	br := bufio.NewReaderSize(f, 1<<20)
	if first, err := firstByte(br); err == nil && first == '[' {
		return r.jsonArray(path, br)
	}
	var pos int64
	for line := int64(1); ; line++ {
		b, err := br.ReadBytes('\n')
		pos += int64(len(b))
		if len(bytes.TrimSpace(b)) > 0 {
			if err := r.emit(record{raw: b, file: path, line: line, pos: r.base + pos}); err != nil {
				return err
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("preprocess: %s: %w", path, err)
		}
	}
}

// firstByte peeks at the first non-space byte.
func firstByte(br *bufio.Reader) (byte, error) {
	for n := 1; ; n++ {
		b, err := br.Peek(n)
		if len(b) == n && !isJSONSpace(b[n-1]) {
			return b[n-1], nil
		}
		if err != nil {
			return 0, err
		}
	}
}

func isJSONSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// jsonArray emits the elements of a file holding one JSON array of objects.
func (r *inputReader) jsonArray(path string, br *bufio.Reader) error {
	b, err := io.ReadAll(br)
	if err != nil {
		return fmt.Errorf("preprocess: %s: %w", path, err)
	}
	if !utf8.Valid(b) {
		return fmt.Errorf("%w: %s:%d: invalid UTF-8", ErrBadInput, path, badUTF8Line(b))
	}
	var elems []json.RawMessage
	if err := json.Unmarshal(b, &elems); err != nil {
		return fmt.Errorf("%w: %s: %v", ErrBadInput, path, err)
	}
	for i, e := range elems {
		fields, err := jsonObject(e, r.keys)
		if err != nil {
			return fmt.Errorf("%w: %s: element %d: %v", ErrBadInput, path, i, err)
		}
		pos := r.base + int64(float64(len(b))*float64(i+1)/float64(len(elems)))
		if err := r.emit(record{fields: fields, pos: pos}); err != nil {
			return err
		}
	}
	return nil
}
