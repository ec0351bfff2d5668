//go:build !(linux || darwin || freebsd)

package data

// mapFile reads the whole of path into memory where memory mapping is not
// available; release is a no-op.
func mapFile(path string) (b []byte, release func() error, err error) {
	return readFile(path)
}
