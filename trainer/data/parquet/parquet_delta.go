package parquet

import (
	"errors"
	"fmt"
)

// Parquet's delta encodings of byte arrays, which v2 writers such as
// arrow-rs and parquet-mr use when a dictionary is off or full.
const (
	pqDeltaLengthByteArray = 6
	pqDeltaByteArray       = 7
)

// deltaBinary decodes a DELTA_BINARY_PACKED run of at most max values and
// returns them with the bytes it took.
func deltaBinary(b []byte, max int) ([]int64, int, error) {
	r := &thriftReader{b: b}
	blockSize, err1 := r.uvarint()
	miniblocks, err2 := r.uvarint()
	total, err3 := r.uvarint()
	first, err4 := r.varint()
	if err := errors.Join(err1, err2, err3, err4); err != nil {
		return nil, 0, errors.New("delta header truncated")
	}
	if blockSize == 0 || blockSize%128 != 0 || miniblocks == 0 || blockSize%miniblocks != 0 || (blockSize/miniblocks)%32 != 0 || blockSize > 1<<20 {
		return nil, 0, fmt.Errorf("bad delta block: %d values in %d miniblocks", blockSize, miniblocks)
	}
	if total > uint64(max) {
		return nil, 0, fmt.Errorf("delta run of %d values where at most %d fit", total, max)
	}
	out := make([]int64, 0, total)
	if total > 0 {
		out = append(out, first)
	}
	per := int(blockSize / miniblocks)
	for uint64(len(out)) < total {
		if err := deltaBlock(r, int(miniblocks), per, int(total), &out); err != nil {
			return nil, 0, err
		}
	}
	return out, r.pos, nil
}

// deltaBlock decodes one block: min delta, bit widths, then the miniblocks
// that hold values (the last block's unused ones are absent).
func deltaBlock(r *thriftReader, miniblocks, per, total int, out *[]int64) error {
	minDelta, err := r.varint()
	if err != nil || len(r.b)-r.pos < miniblocks {
		return errors.New("delta block truncated")
	}
	widths := r.b[r.pos : r.pos+miniblocks]
	r.pos += miniblocks
	for m := 0; m < miniblocks && len(*out) < total; m++ {
		w := int(widths[m])
		if w > 64 {
			return fmt.Errorf("delta bit width %d", w)
		}
		size := per * w / 8
		if len(r.b)-r.pos < size {
			return errors.New("delta miniblock truncated")
		}
		data := r.b[r.pos : r.pos+size]
		r.pos += size
		for i := 0; i < per && len(*out) < total; i++ {
			prev := (*out)[len(*out)-1]
			*out = append(*out, prev+minDelta+int64(bitsAt(data, i*w, w)))
		}
	}
	return nil
}

// bitsAt reads w bits (LSB first) starting at bit off.
func bitsAt(b []byte, off, w int) uint64 {
	var v uint64
	for j := 0; j < w; j++ {
		bit := off + j
		v |= uint64(b[bit/8]>>(bit%8)&1) << j
	}
	return v
}

// deltaLengthByteArrays decodes n DELTA_LENGTH_BYTE_ARRAY values and
// returns them with the bytes they took.
func deltaLengthByteArrays(b []byte, n int) ([][]byte, int, error) {
	lens, pos, err := deltaBinary(b, n)
	if err != nil {
		return nil, 0, err
	}
	if len(lens) != n {
		return nil, 0, fmt.Errorf("%d lengths for %d values", len(lens), n)
	}
	out := make([][]byte, n)
	for i, l := range lens {
		if l < 0 || l > int64(len(b)-pos) {
			return nil, 0, fmt.Errorf("value %d of %d bytes overruns the page", i, l)
		}
		out[i] = b[pos : pos+int(l)]
		pos += int(l)
	}
	return out, pos, nil
}

// deltaByteArrays decodes n DELTA_BYTE_ARRAY values: each is a prefix of
// the one before plus a suffix.
func deltaByteArrays(b []byte, n int) ([][]byte, error) {
	prefixes, pos, err := deltaBinary(b, n)
	if err != nil {
		return nil, err
	}
	if len(prefixes) != n {
		return nil, fmt.Errorf("%d prefix lengths for %d values", len(prefixes), n)
	}
	suffixes, _, err := deltaLengthByteArrays(b[pos:], n)
	if err != nil {
		return nil, err
	}
	out := make([][]byte, n)
	var prev []byte
	budget := int64(max(64*len(b), 16<<20)) // bytes the values may expand to
	for i, p := range prefixes {
		if p < 0 || p > int64(len(prev)) {
			return nil, fmt.Errorf("value %d: prefix of %d bytes, the previous value has %d", i, p, len(prev))
		}
		if budget -= p + int64(len(suffixes[i])); budget < 0 {
			return nil, errors.New("values expand past any plausible page size")
		}
		v := make([]byte, 0, int(p)+len(suffixes[i]))
		v = append(append(v, prev[:p]...), suffixes[i]...)
		out[i], prev = v, v
	}
	return out, nil
}
