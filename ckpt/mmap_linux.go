package ckpt

import (
	"math"
	"os"
	"syscall"
)

// mmapFile maps the whole file read-only, or returns nil when it cannot (the
// caller then reads with ReadAt).
func mmapFile(f *os.File, size int64) []byte {
	if size <= 0 || size > math.MaxInt {
		return nil
	}
	b, err := syscall.Mmap(int(f.Fd()), 0, int(size), syscall.PROT_READ, syscall.MAP_SHARED)
	if err != nil {
		return nil
	}
	return b
}

func munmap(b []byte) error {
	if b == nil {
		return nil
	}
	return syscall.Munmap(b)
}

// evict drops b[at:at+n] (widened to whole pages) from this process's view
// of the mapping m; the page cache keeps the data and a later read maps it
// again.
func evict(m []byte, at, n int64) {
	page := int64(os.Getpagesize())
	lo, hi := at/page*page, min((at+n+page-1)/page*page, int64(len(m)))
	if lo < hi {
		_ = syscall.Madvise(m[lo:hi], syscall.MADV_DONTNEED)
	}
}
