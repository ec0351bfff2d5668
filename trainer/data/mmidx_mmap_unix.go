//go:build linux || darwin || freebsd

package data

import (
	"fmt"
	"os"
	"syscall"
)

// mapFile maps the whole of path read-only. The returned release unmaps it;
// the bytes must not be used after. An empty file maps to an empty slice.
func mapFile(path string) (b []byte, release func() error, err error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, fmt.Errorf("data: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, nil, fmt.Errorf("data: %w", err)
	}
	size := fi.Size()
	if size == 0 {
		return []byte{}, func() error { return nil }, nil
	}
	if size != int64(int(size)) {
		return nil, nil, fmt.Errorf("data: %s: %d bytes is too large to map", path, size)
	}
	b, err = syscall.Mmap(int(f.Fd()), 0, int(size), syscall.PROT_READ, syscall.MAP_SHARED)
	if err != nil {
		return readFile(path)
	}
	return b, func() error { return syscall.Munmap(b) }, nil
}
