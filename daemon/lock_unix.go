//go:build unix

package daemon

import (
	"os"
	"syscall"
)

// lockFile takes an exclusive, non-blocking flock on path; the lock goes
// away with the process, so a SIGKILLed bloomd never leaves a stale one.
func lockFile(path string) (func() error, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, err
	}
	return f.Close, nil
}
