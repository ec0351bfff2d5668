package data

import "os"

// NoSync turns off the fsync of written datasets until the returned func
// restores it, for benchmarks of the pipeline rather than the disk
// (BenchmarkPreprocess, an external test: preprocessing imports this
// package).
func NoSync() (restore func()) {
	f, d := syncFile, syncDirs
	syncFile, syncDirs = func(*os.File) error { return nil }, false
	return func() { syncFile, syncDirs = f, d }
}
