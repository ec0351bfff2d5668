package supervisor

import (
	"os"
	"path/filepath"
	"testing"
)

// TestCrashReason: a worker the Go runtime killed is described by the
// runtime's own line and where it happened, not by the stack trace's tail.
func TestCrashReason(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct{ log, want string }{
		{"10:00:01.000 job j attempt 1: rank 0\nfatal error: runtime: out of memory\n\nruntime stack:\nruntime.throw({0x9d5a1e?, 0x2000?})\n\t/usr/lib/go/src/runtime/panic.go:1023 +0x5c\n" +
			"goroutine 1 [running]:\nruntime.mallocgc(0x40000000000)\n\t/usr/lib/go/src/runtime/malloc.go:1 +0x1\nbloom/trainer.NewModel(0x1)\n\t/src/trainer/model.go:10 +0x2\nmain.main()\n",
			"fatal error: runtime: out of memory (in bloom/trainer.NewModel(0x1))"},
		{"panic: runtime error: index out of range [5] with length 3\n\ngoroutine 7 [running]:\nbloom/trainer/data.(*Index).At(...)\n\t/src/x.go:3\n",
			"panic: runtime error: index out of range [5] with length 3 (in bloom/trainer/data.(*Index).At(...))"},
		{"step 1\nstep 2\nworker: something\n", "step 1 | step 2 | worker: something"},
	} {
		p := filepath.Join(dir, "rank.log")
		if err := os.WriteFile(p, []byte(c.log), 0o600); err != nil {
			t.Fatal(err)
		}
		if got := crashReason(p); got != c.want {
			t.Errorf("crashReason = %q\nwant %q", got, c.want)
		}
	}
	if got := crashReason(filepath.Join(dir, "none")); got != "" {
		t.Errorf("missing log: %q", got)
	}
}
