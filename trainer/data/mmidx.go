package data

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
)

// Megatron's MMIDIDX indexed dataset: a prefix names two files. prefix.bin is
// every sequence's tokens back to back, little-endian, in one dtype, with no
// header. prefix.idx is
//
//	magic "MMIDIDX\x00\x00" | version <Q =1 | dtype code <B | len <Q | doc_count <Q
//	sizes int32[len] | pointers int64[len] (byte offset of each sequence in .bin)
//	doc_idx int64[doc_count] (0, then the sequence count after each document)
//
// (megatron/core/datasets/indexed_dataset.py, ascendspeed/data/indexed_dataset.py).
const (
	mmidxMagic     = "MMIDIDX\x00\x00"
	mmidxVersion   = 1
	mmidxHeaderLen = 9 + 8 + 1 + 8 + 8
)

// ErrBadIndex marks an .idx or .bin file that is not a valid MMIDIDX dataset.
var ErrBadIndex = errors.New("data: bad indexed dataset")

// DType is an MMIDIDX dtype code: Megatron's numbering.
type DType uint8

// The token dtypes. Codes 6 and 7 are floats (and differ between Megatron
// and AscendSpeed); they never hold tokens and are rejected.
const (
	DTypeUint8  DType = 1
	DTypeInt8   DType = 2
	DTypeInt16  DType = 3
	DTypeInt32  DType = 4
	DTypeInt64  DType = 5
	DTypeUint16 DType = 8
)

// Size is the dtype's width in bytes, 0 for a code that holds no tokens.
func (d DType) Size() int {
	switch d {
	case DTypeUint8, DTypeInt8:
		return 1
	case DTypeInt16, DTypeUint16:
		return 2
	case DTypeInt32:
		return 4
	case DTypeInt64:
		return 8
	}
	return 0
}

// String is numpy's name for the dtype.
func (d DType) String() string {
	switch d {
	case DTypeUint8:
		return "uint8"
	case DTypeInt8:
		return "int8"
	case DTypeInt16:
		return "int16"
	case DTypeInt32:
		return "int32"
	case DTypeInt64:
		return "int64"
	case DTypeUint16:
		return "uint16"
	}
	return fmt.Sprintf("dtype(%d)", uint8(d))
}

// BestDType is Megatron's best_fitting_dtype: uint16 for a vocabulary of
// fewer than 65500 tokens, else int32. AscendSpeed's instruction handler
// passes no vocabulary and always gets int32 (vocab <= 0 here).
func BestDType(vocab int) DType {
	if vocab > 0 && vocab < 65500 {
		return DTypeUint16
	}
	return DTypeInt32
}

// IndexPath and BinPath are the two files of the dataset named by prefix.
func IndexPath(prefix string) string { return prefix + ".idx" }

// BinPath is the token file of the dataset named by prefix.
func BinPath(prefix string) string { return prefix + ".bin" }

// readFile reads a whole file with the package's error prefix.
func readFile(path string) ([]byte, func() error, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("data: %w", err)
	}
	return b, func() error { return nil }, nil
}

// putTokens encodes ids little-endian in dtype d onto dst. It fails on an
// id the dtype cannot hold.
func putTokens(dst []byte, ids []int32, d DType) ([]byte, error) {
	le := binary.LittleEndian
	lo, hi := dtypeRange(d)
	for _, id := range ids {
		if int64(id) < lo || int64(id) > hi {
			return dst, fmt.Errorf("token %d does not fit %v", id, d)
		}
	}
	switch d {
	case DTypeUint16, DTypeInt16:
		for _, id := range ids {
			dst = le.AppendUint16(dst, uint16(id))
		}
	case DTypeInt32:
		for _, id := range ids {
			dst = le.AppendUint32(dst, uint32(id))
		}
	case DTypeInt64:
		for _, id := range ids {
			dst = le.AppendUint64(dst, uint64(int64(id)))
		}
	case DTypeUint8, DTypeInt8:
		for _, id := range ids {
			dst = append(dst, byte(id))
		}
	default:
		return dst, fmt.Errorf("dtype %v holds no tokens", d)
	}
	return dst, nil
}

// dtypeRange is the range of token ids dtype d holds.
func dtypeRange(d DType) (lo, hi int64) {
	switch d {
	case DTypeUint8:
		return 0, 0xff
	case DTypeInt8:
		return -128, 127
	case DTypeInt16:
		return -1 << 15, 1<<15 - 1
	case DTypeUint16:
		return 0, 0xffff
	}
	return -1 << 31, 1<<31 - 1
}

// getTokens decodes n tokens of dtype d from src onto dst.
func getTokens(dst []int32, src []byte, d DType) ([]int32, error) {
	le := binary.LittleEndian
	switch d {
	case DTypeUint16:
		for i := 0; i+1 < len(src); i += 2 {
			dst = append(dst, int32(le.Uint16(src[i:])))
		}
	case DTypeInt32:
		for i := 0; i+3 < len(src); i += 4 {
			dst = append(dst, int32(le.Uint32(src[i:])))
		}
	case DTypeInt16:
		for i := 0; i+1 < len(src); i += 2 {
			dst = append(dst, int32(int16(le.Uint16(src[i:]))))
		}
	case DTypeUint8:
		for _, b := range src {
			dst = append(dst, int32(b))
		}
	case DTypeInt8:
		for _, b := range src {
			dst = append(dst, int32(int8(b)))
		}
	case DTypeInt64:
		for i := 0; i+7 < len(src); i += 8 {
			v := int64(le.Uint64(src[i:]))
			if v != int64(int32(v)) {
				return dst, fmt.Errorf("token %d does not fit int32", v)
			}
			dst = append(dst, int32(v))
		}
	default:
		return dst, fmt.Errorf("dtype %v holds no tokens", d)
	}
	return dst, nil
}
