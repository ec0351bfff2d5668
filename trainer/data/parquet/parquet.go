package parquet

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
)

// ErrFormat marks a parquet file this reader cannot read: corrupt,
// truncated, or using a feature outside what it supports (flat BYTE_ARRAY
// columns; PLAIN and dictionary encodings; data pages v1 and v2;
// UNCOMPRESSED, SNAPPY, GZIP and ZSTD).
var ErrFormat = errors.New("parquet: bad file")

const pqMagic = "PAR1"

// maxPageBytes bounds one page's decompressed size.
const maxPageBytes = 1 << 30

// File reads string columns of a parquet file, row group by row group.
// It is not safe for concurrent use.
type File struct {
	path    string
	r       io.ReaderAt
	closer  io.Closer
	size    int64
	meta    pqFileMeta
	columns map[string]pqLeaf // top-level columns by name
	dec     decompressor
}

// pqLeaf is a top-level column: its position among the leaves, its schema
// element, and whether it is a group (nested, unsupported).
type pqLeaf struct {
	index  int
	elem   pqSchemaElement
	nested bool
}

// Open opens path and reads its footer.
func Open(path string) (*File, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("parquet: %w", err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("parquet: %w", err)
	}
	p, err := newParquet(path, f, fi.Size())
	if err != nil {
		f.Close()
		return nil, err
	}
	p.closer = f
	return p, nil
}

// newParquet reads the footer of the size bytes in r; path names it in
// errors.
func newParquet(path string, r io.ReaderAt, size int64) (*File, error) {
	p := &File{path: path, r: r, size: size}
	if err := p.readFooter(); err != nil {
		return nil, p.errorf("%v", err)
	}
	return p, nil
}

func (p *File) errorf(format string, args ...any) error {
	return fmt.Errorf("%w: %s: %s", ErrFormat, p.path, fmt.Sprintf(format, args...))
}

// readFooter checks the magic numbers and parses FileMetaData.
func (p *File) readFooter() error {
	if p.size < 12 {
		return fmt.Errorf("%d bytes is too short for a parquet file (truncated?)", p.size)
	}
	var head [4]byte
	var tail [8]byte
	if _, err := p.r.ReadAt(head[:], 0); err != nil {
		return err
	}
	if _, err := p.r.ReadAt(tail[:], p.size-8); err != nil {
		return err
	}
	if string(head[:]) != pqMagic {
		return errors.New("no PAR1 magic at the start: not a parquet file")
	}
	if string(tail[4:]) != pqMagic {
		return errors.New("no PAR1 magic at the end (truncated?)")
	}
	n := int64(binary.LittleEndian.Uint32(tail[:4]))
	if n > p.size-12 {
		return fmt.Errorf("footer of %d bytes does not fit in the file (truncated?)", n)
	}
	buf := make([]byte, n)
	if _, err := p.r.ReadAt(buf, p.size-8-n); err != nil {
		return err
	}
	r := &thriftReader{b: buf}
	var err error
	if p.meta, err = r.fileMeta(); err != nil {
		return fmt.Errorf("footer: %v", err)
	}
	return p.indexSchema()
}

// indexSchema maps each top-level column name to its leaf position.
func (p *File) indexSchema() error {
	s := p.meta.schema
	if len(s) == 0 {
		return errors.New("footer has no schema")
	}
	p.columns = map[string]pqLeaf{}
	pos, leaves := 1, 0
	for c := 0; c < int(s[0].numChildren); c++ {
		if pos >= len(s) {
			return errors.New("schema has fewer elements than its root claims")
		}
		e := s[pos]
		first := leaves
		var err error
		if pos, leaves, err = walkSchema(s, pos, leaves, 0); err != nil {
			return err
		}
		p.columns[e.name] = pqLeaf{index: first, elem: e, nested: e.numChildren > 0}
	}
	for i, g := range p.meta.rowGroups {
		if len(g.columns) != leaves {
			return fmt.Errorf("row group %d has %d column chunks, the schema %d", i, len(g.columns), leaves)
		}
	}
	return nil
}

// walkSchema skips the subtree at s[pos], counting its leaves.
func walkSchema(s []pqSchemaElement, pos, leaves, depth int) (int, int, error) {
	if pos >= len(s) || depth > maxThriftDepth {
		return pos, leaves, errors.New("schema tree is malformed")
	}
	n := int(s[pos].numChildren)
	pos++
	if n <= 0 {
		return pos, leaves + 1, nil
	}
	var err error
	for i := 0; i < n; i++ {
		if pos, leaves, err = walkSchema(s, pos, leaves, depth+1); err != nil {
			return pos, leaves, err
		}
	}
	return pos, leaves, nil
}

// Path is the file's name.
func (p *File) Path() string { return p.path }

// NumRows is the row count the footer gives.
func (p *File) NumRows() int64 { return p.meta.numRows }

// NumRowGroups is the number of row groups.
func (p *File) NumRowGroups() int { return len(p.meta.rowGroups) }

// RowGroupRows is the number of rows in row group rg.
func (p *File) RowGroupRows(rg int) int64 { return p.meta.rowGroups[rg].numRows }

// HasColumn reports whether a top-level column is named name.
func (p *File) HasColumn(name string) bool {
	_, ok := p.columns[name]
	return ok
}

// ReadStrings reads the string column name of row group rg: one value per
// row, and null[i] set for a null row (null is nil when there are none).
func (p *File) ReadStrings(rg int, name string) (vals []string, null []bool, err error) {
	if rg < 0 || rg >= len(p.meta.rowGroups) {
		return nil, nil, fmt.Errorf("parquet: %s: row group %d out of range [0,%d)", p.path, rg, len(p.meta.rowGroups))
	}
	col, ok := p.columns[name]
	if !ok {
		return nil, nil, fmt.Errorf("parquet: %s: no column %q (a missing key: check --json-keys)", p.path, name)
	}
	g := p.meta.rowGroups[rg]
	c := &pqColumn{file: p, chunk: g.columns[col.index], rows: g.numRows}
	vals, null, err = c.read(col)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %s: row group %d, column %q: %v", ErrFormat, p.path, rg, name, err)
	}
	return vals, null, nil
}

// chunkBytes reads a column chunk's pages from the file.
func (p *File) chunkBytes(m pqColumnMeta) ([]byte, error) {
	start := m.dataPageOffset
	if m.dictPageOffset > 0 && m.dictPageOffset < start {
		start = m.dictPageOffset
	}
	end := p.size - 8
	if start < 4 || m.compressedSize < 0 || m.compressedSize > end-start {
		return nil, fmt.Errorf("column chunk at %d+%d lies outside the file's %d bytes (truncated?)", start, m.compressedSize, p.size)
	}
	b := make([]byte, m.compressedSize)
	if _, err := p.r.ReadAt(b, start); err != nil && err != io.EOF {
		return nil, err
	}
	return b, nil
}

// Close closes the file.
func (p *File) Close() error {
	p.dec.close()
	if p.closer == nil {
		return nil
	}
	if err := p.closer.Close(); err != nil {
		return fmt.Errorf("parquet: %w", err)
	}
	return nil
}
