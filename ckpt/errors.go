package ckpt

import (
	"errors"
	"fmt"
	"io/fs"
)

// Sentinel errors, for errors.Is. Every error this package returns names the
// file it is about and wraps one of these.
var (
	// ErrCorrupt: a file is not a well-formed safetensors file, index or
	// config (bad header, offsets out of range, holes, overlaps, duplicates).
	ErrCorrupt = errors.New("ckpt: corrupt file")
	// ErrNotFound: a tensor, shard or weights file that was asked for or
	// named by an index is not there.
	ErrNotFound = errors.New("ckpt: not found")
	// ErrDType: an unknown dtype, or one the requested conversion cannot read
	// or write.
	ErrDType = errors.New("ckpt: unsupported dtype")
	// ErrConfig: a BLOOM config.json that is not valid.
	ErrConfig = errors.New("ckpt: invalid config")
	// ErrInvalid: a caller passed inconsistent arguments to a writer (a data
	// length that does not match the shape, a duplicate or empty name).
	ErrInvalid = errors.New("ckpt: invalid argument")
)

// fileError is what every failure in this package looks like: the file, what
// went wrong, the sentinel kind and, when there is one, the underlying error.
type fileError struct {
	path string
	kind error // one of the sentinels above, or nil for a plain I/O failure
	msg  string
	err  error // underlying cause, may be nil
}

func (e *fileError) Error() string {
	s := "ckpt: " + e.path + ": " + e.msg
	if e.err != nil {
		s += ": " + e.err.Error()
	}
	return s
}

func (e *fileError) Unwrap() []error {
	var errs []error
	if e.kind != nil {
		errs = append(errs, e.kind)
	}
	if e.err != nil {
		errs = append(errs, e.err)
	}
	return errs
}

// errf returns a *fileError of the given kind about path.
func errf(path string, kind error, format string, args ...any) error {
	return &fileError{path: path, kind: kind, msg: fmt.Sprintf(format, args...)}
}

// wrapf is errf with an underlying cause.
func wrapf(path string, kind error, cause error, format string, args ...any) error {
	return &fileError{path: path, kind: kind, msg: fmt.Sprintf(format, args...), err: cause}
}

// ioErr wraps an operating-system error about path; a missing file also
// matches ErrNotFound.
func ioErr(path string, err error, what string) error {
	var kind error
	if errors.Is(err, fs.ErrNotExist) {
		kind = ErrNotFound
	}
	return &fileError{path: path, kind: kind, msg: what, err: unwrapPath(err)}
}

// unwrapPath drops the *fs.PathError layer, whose text would repeat the path
// and the operation.
func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
