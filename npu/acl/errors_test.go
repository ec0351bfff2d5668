package acl

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestErrorIs(t *testing.T) {
	oom := &Error{Device: 1, Op: "Alloc", Call: "aclrtMalloc", Code: codeRTOOM, Msg: "no memory"}
	bad := &Error{Op: "Add", Call: "aclnnAddGetWorkspaceSize", Code: 161002}
	for _, c := range []struct {
		err       error
		dev, oomd bool
	}{{oom, true, true}, {bad, true, false}, {fmt.Errorf("worker: %w", oom), true, true}, {ErrNoBF16, false, false}} {
		if errors.Is(c.err, ErrDevice) != c.dev || errors.Is(c.err, ErrOOM) != c.oomd {
			t.Errorf("%v: Is(ErrDevice) = %v, Is(ErrOOM) = %v; want %v, %v", c.err, errors.Is(c.err, ErrDevice), errors.Is(c.err, ErrOOM), c.dev, c.oomd)
		}
	}
	want := "acl: device 1: Alloc: aclrtMalloc returned 207018 (out of device memory): no memory"
	if oom.Error() != want {
		t.Errorf("Error() = %q, want %q", oom.Error(), want)
	}
	// A missing operator package says where the runtime looked.
	t.Setenv("ASCEND_OPP_PATH", "/usr/local/Ascend/ascend-toolkit/latest/opp")
	kernel := &Error{Device: 0, Op: "Exp", Call: "aclnnExpGetWorkspaceSize", Code: codeFindKernel}
	if got := kernel.Error(); !strings.Contains(got, "ASCEND_OPP_PATH=/usr/local/Ascend/ascend-toolkit/latest/opp") {
		t.Errorf("Error() = %q, want the operator package's path", got)
	}
	init := &Error{Device: -1, Op: "open", Call: "aclInit", Code: 100000}
	if want := "acl: open: aclInit returned 100000"; init.Error() != want {
		t.Errorf("Error() = %q, want %q", init.Error(), want)
	}
}
