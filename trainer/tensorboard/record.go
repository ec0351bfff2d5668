package tensorboard

import (
	"encoding/binary"
	"hash/crc32"
)

// TFRecord framing (tensorflow/python/lib/io/python_io.py):
//
//	uint64 length
//	uint32 masked CRC-32C of the 8 length bytes
//	byte   data[length]
//	uint32 masked CRC-32C of the data
//
// all little-endian.

// recordOverhead is the framing around a record's data: 8 + 4 + 4 bytes.
const recordOverhead = 16

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// maskedCRC is TFRecord's masked CRC-32C: the CRC rotated right by 15 bits
// plus a constant, so that a CRC of data holding CRCs stays well mixed.
func maskedCRC(b []byte) uint32 {
	c := crc32.Checksum(b, castagnoli)
	return (c>>15 | c<<17) + 0xa282ead8
}

// appendRecord appends data framed as one TFRecord to dst and returns the
// extended slice. It does not keep data.
func appendRecord(dst, data []byte) []byte {
	var head [12]byte
	binary.LittleEndian.PutUint64(head[:8], uint64(len(data)))
	binary.LittleEndian.PutUint32(head[8:], maskedCRC(head[:8]))
	dst = append(dst, head[:]...)
	dst = append(dst, data...)
	return binary.LittleEndian.AppendUint32(dst, maskedCRC(data))
}

// nextRecord splits the first TFRecord off b and returns its data (a
// sub-slice of b) and the rest. A record cut short returns ErrTruncated, a
// CRC that does not match returns ErrCorrupt.
func nextRecord(b []byte) (data, rest []byte, err error) {
	if len(b) < 12 {
		return nil, nil, ErrTruncated
	}
	if binary.LittleEndian.Uint32(b[8:12]) != maskedCRC(b[:8]) {
		return nil, nil, errorf(ErrCorrupt, "length CRC does not match")
	}
	n, avail := binary.LittleEndian.Uint64(b[:8]), len(b)-recordOverhead
	if avail < 0 || n > uint64(avail) {
		return nil, nil, ErrTruncated
	}
	data, crc := b[12:12+n], b[12+n:recordOverhead+n]
	if binary.LittleEndian.Uint32(crc) != maskedCRC(data) {
		return nil, nil, errorf(ErrCorrupt, "data CRC does not match")
	}
	return data, b[recordOverhead+n:], nil
}
