package parquet

import "fmt"

// The parts of parquet's FileMetaData and PageHeader (parquet.thrift) that
// reading flat string columns needs; every other field is skipped.

// Physical types, repetitions, codecs, page types and encodings.
const (
	pqByteArray = 6

	pqRequired = 0
	pqOptional = 1
	pqRepeated = 2

	pqDataPage       = 0
	pqIndexPage      = 1
	pqDictionaryPage = 2
	pqDataPageV2     = 3

	pqPlain           = 0
	pqPlainDictionary = 2
	pqRLE             = 3
	pqRLEDictionary   = 8
)

var pqCodecs = [...]string{"UNCOMPRESSED", "SNAPPY", "GZIP", "LZO", "BROTLI", "LZ4", "ZSTD", "LZ4_RAW"}

func codecName(c int32) string {
	if c >= 0 && int(c) < len(pqCodecs) {
		return pqCodecs[c]
	}
	return fmt.Sprintf("codec %d", c)
}

type pqSchemaElement struct {
	typ, repetition, numChildren int32
	name                         string
	hasType                      bool
}

type pqColumnMeta struct {
	typ, codec                     int32
	path                           []string
	numValues, compressedSize      int64
	dataPageOffset, dictPageOffset int64
}

type pqColumnChunk struct {
	filePath string
	meta     pqColumnMeta
	hasMeta  bool
}

type pqRowGroup struct {
	columns []pqColumnChunk
	numRows int64
}

type pqFileMeta struct {
	schema    []pqSchemaElement
	numRows   int64
	rowGroups []pqRowGroup
}

type pqPageHeader struct {
	typ, uncompressedSize, compressedSize int32
	numValues, encoding, defEncoding      int32
	// data page v2
	numNulls, defLen, repLen int32
	compressed               bool
}

func (r *thriftReader) fileMeta() (m pqFileMeta, err error) {
	err = r.readStruct(func(id int16, t byte) error {
		switch {
		case id == 2 && t == tList:
			return r.readList(func(byte) error {
				var e pqSchemaElement
				err := r.schemaElement(&e)
				m.schema = append(m.schema, e)
				return err
			})
		case id == 3:
			return r.i64Field(t, &m.numRows)
		case id == 4 && t == tList:
			return r.readList(func(byte) error {
				var g pqRowGroup
				err := r.rowGroup(&g)
				m.rowGroups = append(m.rowGroups, g)
				return err
			})
		}
		return r.skip(t)
	})
	return m, err
}

func (r *thriftReader) schemaElement(e *pqSchemaElement) error {
	return r.readStruct(func(id int16, t byte) error {
		switch id {
		case 1:
			e.hasType = true
			return r.i32Field(t, &e.typ)
		case 3:
			return r.i32Field(t, &e.repetition)
		case 4:
			return r.stringField(t, &e.name)
		case 5:
			return r.i32Field(t, &e.numChildren)
		}
		return r.skip(t)
	})
}

func (r *thriftReader) rowGroup(g *pqRowGroup) error {
	return r.readStruct(func(id int16, t byte) error {
		switch {
		case id == 1 && t == tList:
			return r.readList(func(byte) error {
				var c pqColumnChunk
				err := r.columnChunk(&c)
				g.columns = append(g.columns, c)
				return err
			})
		case id == 3:
			return r.i64Field(t, &g.numRows)
		}
		return r.skip(t)
	})
}

func (r *thriftReader) columnChunk(c *pqColumnChunk) error {
	return r.readStruct(func(id int16, t byte) error {
		switch {
		case id == 1:
			return r.stringField(t, &c.filePath)
		case id == 3 && t == tStruct:
			c.hasMeta = true
			return r.columnMeta(&c.meta)
		}
		return r.skip(t)
	})
}

func (r *thriftReader) columnMeta(m *pqColumnMeta) error {
	return r.readStruct(func(id int16, t byte) error {
		switch {
		case id == 1:
			return r.i32Field(t, &m.typ)
		case id == 3 && t == tList:
			return r.readList(func(et byte) error {
				var s string
				err := r.stringField(et, &s)
				m.path = append(m.path, s)
				return err
			})
		case id == 4:
			return r.i32Field(t, &m.codec)
		case id == 5:
			return r.i64Field(t, &m.numValues)
		case id == 7:
			return r.i64Field(t, &m.compressedSize)
		case id == 9:
			return r.i64Field(t, &m.dataPageOffset)
		case id == 11:
			return r.i64Field(t, &m.dictPageOffset)
		}
		return r.skip(t)
	})
}

func (r *thriftReader) pageHeader() (h pqPageHeader, err error) {
	h.compressed = true
	err = r.readStruct(func(id int16, t byte) error {
		switch {
		case id == 1:
			return r.i32Field(t, &h.typ)
		case id == 2:
			return r.i32Field(t, &h.uncompressedSize)
		case id == 3:
			return r.i32Field(t, &h.compressedSize)
		case id == 5 && t == tStruct:
			return r.dataPageHeader(&h)
		case id == 7 && t == tStruct:
			return r.dictPageHeader(&h)
		case id == 8 && t == tStruct:
			return r.dataPageHeaderV2(&h)
		}
		return r.skip(t)
	})
	return h, err
}

func (r *thriftReader) dataPageHeader(h *pqPageHeader) error {
	return r.readStruct(func(id int16, t byte) error {
		switch id {
		case 1:
			return r.i32Field(t, &h.numValues)
		case 2:
			return r.i32Field(t, &h.encoding)
		case 3:
			return r.i32Field(t, &h.defEncoding)
		}
		return r.skip(t)
	})
}

func (r *thriftReader) dictPageHeader(h *pqPageHeader) error {
	return r.readStruct(func(id int16, t byte) error {
		switch id {
		case 1:
			return r.i32Field(t, &h.numValues)
		case 2:
			return r.i32Field(t, &h.encoding)
		}
		return r.skip(t)
	})
}

func (r *thriftReader) dataPageHeaderV2(h *pqPageHeader) error {
	return r.readStruct(func(id int16, t byte) error {
		switch id {
		case 1:
			return r.i32Field(t, &h.numValues)
		case 2:
			return r.i32Field(t, &h.numNulls)
		case 4:
			return r.i32Field(t, &h.encoding)
		case 5:
			return r.i32Field(t, &h.defLen)
		case 6:
			return r.i32Field(t, &h.repLen)
		case 7:
			return r.boolField(t, &h.compressed)
		}
		return r.skip(t)
	})
}
