package parquet

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"

	"github.com/klauspost/compress/snappy"
	"github.com/klauspost/compress/zstd"
)

// decompressor undoes a page's compression; the zstd decoder is made on
// first use and kept for the file's life.
type decompressor struct {
	zstd *zstd.Decoder
}

// decompress returns src decompressed with parquet codec codec; the result
// must be exactly size bytes. It may return src itself (UNCOMPRESSED).
func (d *decompressor) decompress(codec int32, src []byte, size int) ([]byte, error) {
	if size < 0 || size > maxPageBytes {
		return nil, fmt.Errorf("uncompressed size %d is out of range", size)
	}
	var out []byte
	var err error
	switch codec {
	case 0:
		out = src
	case 1:
		out, err = d.snappy(src, size)
	case 2:
		out, err = d.gzip(src, size)
	case 6:
		out, err = d.zstdDecode(src, size)
	default:
		return nil, fmt.Errorf("compression %s is not supported", codecName(codec))
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %v", codecName(codec), err)
	}
	if len(out) != size {
		return nil, fmt.Errorf("%s: page decompressed to %d bytes, the header says %d", codecName(codec), len(out), size)
	}
	return out, nil
}

func (d *decompressor) snappy(src []byte, size int) ([]byte, error) {
	n, err := snappy.DecodedLen(src)
	if err != nil {
		return nil, err
	}
	if n != size {
		return nil, fmt.Errorf("block holds %d bytes, the header says %d", n, size)
	}
	return snappy.Decode(make([]byte, n), src)
}

func (d *decompressor) gzip(src []byte, size int) ([]byte, error) {
	zr, err := gzip.NewReader(bytes.NewReader(src))
	if err != nil {
		return nil, err
	}
	defer zr.Close()
	var out bytes.Buffer
	if _, err := io.Copy(&out, io.LimitReader(zr, int64(size)+1)); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

func (d *decompressor) zstdDecode(src []byte, size int) ([]byte, error) {
	if d.zstd == nil {
		z, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1),
			zstd.WithDecoderMaxMemory(maxPageBytes), zstd.WithDecodeAllCapLimit(true))
		if err != nil {
			return nil, err
		}
		d.zstd = z
	}
	return d.zstd.DecodeAll(src, make([]byte, 0, size))
}

func (d *decompressor) close() {
	if d.zstd != nil {
		d.zstd.Close()
		d.zstd = nil
	}
}
