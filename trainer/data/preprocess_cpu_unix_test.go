//go:build unix

package data_test

import (
	"syscall"
	"time"
)

// cpuTime is the process's user+system CPU time, for throughput per core
// that a busy machine distorts less than wall time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
