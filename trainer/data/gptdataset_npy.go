package data

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// The .npy format (numpy/lib/format.py), enough for Megatron's index maps:
// little-endian int32, uint32 and int64 arrays of one or two dimensions in C
// order. We write what numpy 1.24's np.save writes, byte for byte (format
// 1.0, keys sorted, the 21-digit growth padding, 64-byte alignment), and read
// formats 1.0–3.0.
const npyMagic = "\x93NUMPY"

// intVec is a read-only vector of integers: an in-memory slice or a view of a
// mapped .npy file.
type intVec interface {
	Len() int
	At(i int) int64
}

type int32Vec []int32
type uint32Vec []uint32
type int64Vec []int64

func (v int32Vec) Len() int        { return len(v) }
func (v int32Vec) At(i int) int64  { return int64(v[i]) }
func (v uint32Vec) Len() int       { return len(v) }
func (v uint32Vec) At(i int) int64 { return int64(v[i]) }
func (v int64Vec) Len() int        { return len(v) }
func (v int64Vec) At(i int) int64  { return v[i] }

// npyView is the data of a mapped .npy file.
type npyView struct {
	b     []byte
	descr string // <i4, <u4 or <i8
}

func (v npyView) width() int {
	if v.descr == "<i8" {
		return 8
	}
	return 4
}

func (v npyView) Len() int { return len(v.b) / v.width() }

func (v npyView) At(i int) int64 {
	switch v.descr {
	case "<i8":
		return int64(binary.LittleEndian.Uint64(v.b[8*i:]))
	case "<u4":
		return int64(binary.LittleEndian.Uint32(v.b[4*i:]))
	}
	return int64(int32(binary.LittleEndian.Uint32(v.b[4*i:])))
}

// npyHeader is np.save's header for an array of descr and shape.
func npyHeader(descr string, shape []int) []byte {
	dims := make([]string, len(shape))
	for i, s := range shape {
		dims[i] = strconv.Itoa(s)
	}
	tuple := "(" + strings.Join(dims, ", ") + ")"
	if len(shape) == 1 {
		tuple = "(" + dims[0] + ",)"
	}
	h := "{'descr': '" + descr + "', 'fortran_order': False, 'shape': " + tuple + ", }"
	if len(shape) > 0 {
		h += strings.Repeat(" ", 21-len(dims[0]))
	}
	pad := 64 - (len(npyMagic)+2+2+len(h)+1)%64
	h += strings.Repeat(" ", pad) + "\n"
	out := append([]byte(npyMagic), 1, 0)
	out = binary.LittleEndian.AppendUint16(out, uint16(len(h)))
	return append(out, h...)
}

// writeNpy writes v (descr's element type) with the given shape to path
// through a temporary file, fsynced and renamed.
func writeNpy(path, descr string, shape []int, v intVec) (err error) {
	f, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".*.tmp")
	if err != nil {
		return fmt.Errorf("data: %w", err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if err = f.Chmod(0o644); err != nil { // readable by all, as numpy's files are
		return fmt.Errorf("data: %w", err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	w.Write(npyHeader(descr, shape))
	var b [8]byte
	for i := 0; i < v.Len(); i++ {
		if descr == "<i8" {
			binary.LittleEndian.PutUint64(b[:], uint64(v.At(i)))
			w.Write(b[:])
		} else {
			binary.LittleEndian.PutUint32(b[:], uint32(v.At(i)))
			w.Write(b[:4])
		}
	}
	if err := w.Flush(); err != nil {
		return fmt.Errorf("data: %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("data: %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("data: %s: %w", path, err)
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("data: %w", err)
	}
	return nil
}

// npyFile is a mapped .npy file.
type npyFile struct {
	view    npyView
	shape   []int
	release func() error
}

// openNpy maps path and checks it is a C-order array of a supported dtype.
func openNpy(path string) (*npyFile, error) {
	b, rel, err := mapFile(path)
	if err != nil {
		return nil, err
	}
	view, shape, err := parseNpy(b)
	if err != nil {
		rel()
		return nil, fmt.Errorf("data: %s: %v", path, err)
	}
	return &npyFile{view: view, shape: shape, release: rel}, nil
}

// parseNpy checks an .npy image and returns a view of its data.
func parseNpy(b []byte) (npyView, []int, error) {
	descr, shape, off, err := parseNpyHeader(b)
	if err != nil {
		return npyView{}, nil, err
	}
	v := npyView{descr: descr}
	n := 1
	for _, s := range shape {
		if s > 0 && n > len(b)/s {
			return npyView{}, nil, fmt.Errorf("shape %v is larger than the file", shape)
		}
		n *= s
	}
	if want := n * v.width(); len(b)-off != want {
		return npyView{}, nil, fmt.Errorf("%d data bytes, shape %v needs %d", len(b)-off, shape, want)
	}
	v.b = b[off:]
	return v, shape, nil
}

// parseNpyHeader returns the dtype, shape and data offset of an .npy image.
func parseNpyHeader(b []byte) (descr string, shape []int, off int, err error) {
	if len(b) < 10 || string(b[:6]) != npyMagic {
		return "", nil, 0, fmt.Errorf("not a .npy file")
	}
	var hlen int
	switch b[6] {
	case 1:
		hlen, off = int(binary.LittleEndian.Uint16(b[8:])), 10
	case 2, 3:
		if len(b) < 12 {
			return "", nil, 0, fmt.Errorf("truncated .npy header")
		}
		hlen, off = int(binary.LittleEndian.Uint32(b[8:])), 12
	default:
		return "", nil, 0, fmt.Errorf(".npy format version %d.%d is not supported", b[6], b[7])
	}
	if hlen > len(b)-off {
		return "", nil, 0, fmt.Errorf("truncated .npy header")
	}
	h := string(b[off : off+hlen])
	off += hlen
	descr, err = npyField(h, "descr")
	if err != nil {
		return "", nil, 0, err
	}
	descr = strings.Trim(descr, "'\"")
	if descr != "<i4" && descr != "<u4" && descr != "<i8" {
		return "", nil, 0, fmt.Errorf("dtype %s, want <i4, <u4 or <i8", descr)
	}
	if fo, err := npyField(h, "fortran_order"); err != nil || fo != "False" {
		return "", nil, 0, fmt.Errorf("array is not in C order")
	}
	shape, err = npyShape(h)
	return descr, shape, off, err
}

// npyField extracts the text of one value from the header dict.
func npyField(h, key string) (string, error) {
	i := strings.Index(h, "'"+key+"':")
	if i < 0 {
		return "", fmt.Errorf(".npy header has no %s", key)
	}
	rest := strings.TrimSpace(h[i+len(key)+3:])
	if strings.HasPrefix(rest, "(") {
		j := strings.IndexByte(rest, ')')
		if j < 0 {
			return "", fmt.Errorf(".npy header: bad %s", key)
		}
		return rest[:j+1], nil
	}
	j := strings.IndexAny(rest, ",}")
	if j < 0 {
		return "", fmt.Errorf(".npy header: bad %s", key)
	}
	return strings.TrimSpace(rest[:j]), nil
}

// npyShape parses the shape tuple.
func npyShape(h string) ([]int, error) {
	t, err := npyField(h, "shape")
	if err != nil {
		return nil, err
	}
	var shape []int
	for _, p := range strings.Split(strings.Trim(t, "()"), ",") {
		p = strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(p), "L"))
		if p == "" {
			continue
		}
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 {
			return nil, fmt.Errorf(".npy header: bad shape %s", t)
		}
		shape = append(shape, n)
	}
	return shape, nil
}
