package parquet

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// plainByteArrays decodes n PLAIN byte arrays (4-byte length, bytes).
func plainByteArrays(b []byte, n int, out [][]byte) ([][]byte, int, error) {
	pos := 0
	for i := 0; i < n; i++ {
		if len(b)-pos < 4 {
			return nil, 0, fmt.Errorf("value %d of %d truncated", i, n)
		}
		l := binary.LittleEndian.Uint32(b[pos:])
		pos += 4
		if uint64(l) > uint64(len(b)-pos) {
			return nil, 0, fmt.Errorf("value %d of %d bytes overruns the page", i, l)
		}
		out = append(out, b[pos:pos+int(l)])
		pos += int(l)
	}
	return out, pos, nil
}

// decodeHybrid decodes n values of the RLE/bit-packed hybrid encoding with
// the given bit width, appending them to out.
func decodeHybrid(b []byte, width, n int, out []uint32) ([]uint32, error) {
	pos := 0
	bytesPer := (width + 7) / 8
	for len(out) < n {
		h, k := binary.Uvarint(b[pos:])
		if k <= 0 {
			return nil, fmt.Errorf("RLE/bit-packed data ends after %d of %d values", len(out), n)
		}
		pos += k
		if h&1 == 0 { // RLE run
			if len(b)-pos < bytesPer {
				return nil, errors.New("RLE run truncated")
			}
			var v uint32
			for i := 0; i < bytesPer; i++ {
				v |= uint32(b[pos+i]) << (8 * i)
			}
			pos += bytesPer
			if width < 32 && v>>width != 0 {
				return nil, fmt.Errorf("RLE value %d wider than %d bits", v, width)
			}
			for run := min(h>>1, uint64(n-len(out))); run > 0; run-- {
				out = append(out, v)
			}
			continue
		}
		var err error
		if out, pos, err = unpackBits(b, pos, h>>1, width, n, out); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// unpackBits decodes a bit-packed run of groups×8 values, LSB first,
// stopping at n values or at the end of the data.
func unpackBits(b []byte, pos int, groups uint64, width, n int, out []uint32) ([]uint32, int, error) {
	if groups > uint64(len(b)) {
		groups = uint64(len(b)) // more than the data can hold; read what is there
	}
	end := min(pos+int(groups)*width, len(b))
	count := int(groups) * 8
	bit := pos * 8
	for i := 0; i < count && len(out) < n; i++ {
		if bit+width > end*8 {
			return nil, 0, errors.New("bit-packed run truncated")
		}
		var v uint32
		for j := 0; j < width; j++ {
			v |= uint32(b[(bit+j)/8]>>((bit+j)%8)&1) << j
		}
		bit += width
		out = append(out, v)
	}
	return out, min(pos+int(groups)*width, len(b)), nil
}
