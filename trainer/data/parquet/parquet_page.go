package parquet

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// maxPageValues bounds the values of one data page (writers put thousands
// to a page; run-length encoding could otherwise claim billions in a few
// bytes).
const maxPageValues = 1 << 24

// pqColumn decodes one column chunk of a flat BYTE_ARRAY column.
type pqColumn struct {
	file   *File
	chunk  pqColumnChunk
	rows   int64
	maxDef int
	dict   [][]byte
	vals   []string
	null   []bool
	nulls  int
	levels []uint32 // scratch
}

// read decodes every page of the chunk.
func (c *pqColumn) read(col pqLeaf) ([]string, []bool, error) {
	if err := c.check(col); err != nil {
		return nil, nil, err
	}
	b, err := c.file.chunkBytes(c.chunk.meta)
	if err != nil {
		return nil, nil, err
	}
	if c.rows < 0 {
		return nil, nil, fmt.Errorf("row group has %d rows", c.rows)
	}
	c.vals = make([]string, 0, min(c.rows, 1<<16))
	for pos := 0; int64(len(c.vals)) < c.rows; {
		if pos >= len(b) {
			return nil, nil, fmt.Errorf("pages end after %d of %d values (truncated?)", len(c.vals), c.rows)
		}
		n, err := c.page(b[pos:])
		if err != nil {
			return nil, nil, fmt.Errorf("page at byte %d: %v", pos, err)
		}
		pos += n
	}
	if int64(len(c.vals)) != c.rows {
		return nil, nil, fmt.Errorf("%d values for %d rows", len(c.vals), c.rows)
	}
	if c.nulls == 0 {
		c.null = nil
	}
	return c.vals, c.null, nil
}

// check rejects column chunks this reader does not handle.
func (c *pqColumn) check(col pqLeaf) error {
	m := c.chunk.meta
	switch {
	case col.nested:
		return errors.New("a nested column (struct, list or map) holds no plain strings")
	case col.elem.repetition == pqRepeated:
		return errors.New("a repeated column holds no plain strings")
	case !c.chunk.hasMeta:
		return errors.New("column chunk has no metadata")
	case c.chunk.filePath != "":
		return fmt.Errorf("column chunk lives in another file (%s): not supported", c.chunk.filePath)
	case m.typ != pqByteArray:
		return fmt.Errorf("physical type %d is not BYTE_ARRAY: not a string column", m.typ)
	case m.codec != 0 && m.codec != 1 && m.codec != 2 && m.codec != 6:
		return fmt.Errorf("compression %s is not supported (UNCOMPRESSED, SNAPPY, GZIP, ZSTD are)", codecName(m.codec))
	}
	if col.elem.repetition == pqOptional {
		c.maxDef = 1
	}
	return nil
}

// page decodes the page at the start of b and returns its length.
func (c *pqColumn) page(b []byte) (int, error) {
	r := &thriftReader{b: b}
	h, err := r.pageHeader()
	if err != nil {
		return 0, fmt.Errorf("header: %v", err)
	}
	if h.compressedSize < 0 || int(h.compressedSize) > len(b)-r.pos {
		return 0, fmt.Errorf("%d bytes of page data, %d left in the chunk (truncated?)", h.compressedSize, len(b)-r.pos)
	}
	if h.uncompressedSize < 0 || h.uncompressedSize > maxPageBytes {
		return 0, fmt.Errorf("uncompressed size %d is out of range", h.uncompressedSize)
	}
	if h.typ == pqDataPage || h.typ == pqDataPageV2 {
		if h.numValues < 0 || h.numValues > maxPageValues || int64(len(c.vals))+int64(h.numValues) > c.rows {
			return 0, fmt.Errorf("page of %d values after %d, the row group has %d rows", h.numValues, len(c.vals), c.rows)
		}
	}
	body := b[r.pos : r.pos+int(h.compressedSize)]
	n := r.pos + int(h.compressedSize)
	switch h.typ {
	case pqDictionaryPage:
		return n, c.dictPage(h, body)
	case pqDataPage:
		return n, c.dataPage(h, body)
	case pqDataPageV2:
		return n, c.dataPageV2(h, body)
	case pqIndexPage:
		return n, nil
	}
	return 0, fmt.Errorf("unknown page type %d", h.typ)
}

func (c *pqColumn) decompress(src []byte, size int32) ([]byte, error) {
	return c.file.dec.decompress(c.chunk.meta.codec, src, int(size))
}

func (c *pqColumn) dictPage(h pqPageHeader, body []byte) error {
	if h.encoding != pqPlain && h.encoding != pqPlainDictionary {
		return fmt.Errorf("dictionary page encoding %d is not PLAIN", h.encoding)
	}
	data, err := c.decompress(body, h.uncompressedSize)
	if err != nil {
		return err
	}
	if h.numValues < 0 || int(h.numValues) > len(data)/4 {
		return fmt.Errorf("dictionary of %d values in %d bytes", h.numValues, len(data))
	}
	c.dict, _, err = plainByteArrays(data, int(h.numValues), make([][]byte, 0, h.numValues))
	return err
}

// dataPage decodes a v1 data page: levels and values, all compressed.
func (c *pqColumn) dataPage(h pqPageHeader, body []byte) error {
	data, err := c.decompress(body, h.uncompressedSize)
	if err != nil {
		return err
	}
	if c.maxDef > 0 {
		if h.defEncoding != pqRLE {
			return fmt.Errorf("definition level encoding %d is not RLE", h.defEncoding)
		}
		if len(data) < 4 {
			return errors.New("definition levels truncated")
		}
		n := binary.LittleEndian.Uint32(data)
		if uint64(n) > uint64(len(data)-4) {
			return errors.New("definition levels truncated")
		}
		if err := c.defLevels(data[4:4+n], int(h.numValues)); err != nil {
			return err
		}
		data = data[4+n:]
	} else {
		c.allDefined(int(h.numValues))
	}
	return c.values(h, data)
}

// dataPageV2 decodes a v2 data page: uncompressed levels, then values
// compressed when the header says so.
func (c *pqColumn) dataPageV2(h pqPageHeader, body []byte) error {
	if h.repLen != 0 {
		return errors.New("repetition levels in a flat column")
	}
	if h.defLen < 0 || int(h.defLen) > len(body) {
		return errors.New("definition levels truncated")
	}
	if c.maxDef > 0 {
		if err := c.defLevels(body[:h.defLen], int(h.numValues)); err != nil {
			return err
		}
	} else {
		c.allDefined(int(h.numValues))
	}
	data := body[h.defLen:]
	if h.compressed {
		var err error
		if data, err = c.decompress(data, h.uncompressedSize-h.defLen); err != nil {
			return err
		}
	}
	return c.values(h, data)
}

// allDefined sets the levels of a required column's n values.
func (c *pqColumn) allDefined(n int) {
	c.levels = c.levels[:0]
	for i := 0; i < n; i++ {
		c.levels = append(c.levels, 1)
	}
}

// defLevels decodes n definition levels (bit width 1).
func (c *pqColumn) defLevels(b []byte, n int) error {
	var err error
	c.levels, err = decodeHybrid(b, 1, n, c.levels[:0])
	return err
}

// values decodes the non-null values of a page and appends every row.
func (c *pqColumn) values(h pqPageHeader, data []byte) error {
	defined := 0
	for _, l := range c.levels {
		if l > 1 {
			return fmt.Errorf("definition level %d above the maximum 1", l)
		}
		defined += int(l)
	}
	var vals [][]byte
	var err error
	switch h.encoding {
	case pqPlain:
		vals, _, err = plainByteArrays(data, defined, nil)
	case pqPlainDictionary, pqRLEDictionary:
		vals, err = c.dictValues(data, defined)
	case pqDeltaLengthByteArray:
		vals, _, err = deltaLengthByteArrays(data, defined)
	case pqDeltaByteArray:
		vals, err = deltaByteArrays(data, defined)
	default:
		err = fmt.Errorf("value encoding %d is not supported (PLAIN, dictionary and the delta byte-array encodings are)", h.encoding)
	}
	if err != nil {
		return err
	}
	c.appendRows(vals)
	return nil
}

// appendRows lays vals out over the page's rows, nulls where undefined.
func (c *pqColumn) appendRows(vals [][]byte) {
	k := 0
	for _, l := range c.levels {
		if l == 1 {
			c.vals = append(c.vals, string(vals[k]))
			k++
			c.null = append(c.null, false)
			continue
		}
		c.vals = append(c.vals, "")
		c.null = append(c.null, true)
		c.nulls++
	}
}

// dictValues decodes n dictionary indices and looks them up.
func (c *pqColumn) dictValues(data []byte, n int) ([][]byte, error) {
	if c.dict == nil {
		return nil, errors.New("dictionary-encoded page without a dictionary page")
	}
	if n == 0 {
		return nil, nil
	}
	if len(data) < 1 || data[0] > 32 {
		return nil, errors.New("bad dictionary index bit width")
	}
	idx, err := decodeHybrid(data[1:], int(data[0]), n, make([]uint32, 0, n))
	if err != nil {
		return nil, err
	}
	out := make([][]byte, n)
	for i, j := range idx {
		if int(j) >= len(c.dict) {
			return nil, fmt.Errorf("dictionary index %d, dictionary has %d entries", j, len(c.dict))
		}
		out[i] = c.dict[j]
	}
	return out, nil
}
