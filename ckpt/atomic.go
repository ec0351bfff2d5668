package ckpt

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"
)

// WriteAtomic writes a file at path through write, atomically: write gets a
// buffered writer on a temporary file in the same directory, which is then
// flushed, fsynced, made mode 0644 and renamed over path, and the directory is
// fsynced. On any failure the temporary file is removed and path is untouched.
func WriteAtomic(path string, write func(w io.Writer) error) (err error) {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return ioErr(path, err, "create temporary file")
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	bw := bufio.NewWriterSize(tmp, 1<<20)
	if err := write(bw); err != nil {
		var fe *fileError
		if errors.As(err, &fe) {
			return err
		}
		return ioErr(path, err, "write")
	}
	if err := bw.Flush(); err != nil {
		return ioErr(path, err, "write")
	}
	if err := tmp.Chmod(0o644); err != nil {
		return ioErr(path, err, "chmod")
	}
	if err := tmp.Sync(); err != nil {
		return ioErr(path, err, "fsync")
	}
	if err := tmp.Close(); err != nil {
		return ioErr(path, err, "close")
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return ioErr(path, err, "rename")
	}
	if err := syncDir(dir); err != nil {
		return ioErr(dir, err, "fsync directory")
	}
	return nil
}

// syncDir makes a rename in dir durable. File systems that cannot sync a
// directory (EINVAL) are tolerated.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if errors.Is(err, syscall.EINVAL) {
		return nil
	}
	return err
}

// CheckWritable makes dir (and its parents) and writes and removes a file
// in it: a destination that cannot take a checkpoint fails before the
// work that would fill it, not after.
func CheckWritable(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("ckpt: %s cannot hold checkpoints: %w", dir, err)
	}
	f, err := os.CreateTemp(dir, ".write-check-*")
	if err != nil {
		return fmt.Errorf("ckpt: %s cannot hold checkpoints: %w", dir, err)
	}
	name := f.Name()
	_, werr := f.Write([]byte("bloom"))
	err = errors.Join(werr, f.Close(), os.Remove(name))
	if err != nil {
		return fmt.Errorf("ckpt: %s cannot hold checkpoints: %w", dir, err)
	}
	return nil
}
