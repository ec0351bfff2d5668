//go:build !(ascend && cgo)

package acl

import (
	"errors"
	"testing"

	"bloom/npu"
)

func TestNotBuilt(t *testing.T) {
	_, err := npu.Open("acl", npu.Options{})
	if !errors.Is(err, ErrNotBuilt) {
		t.Fatalf("Open(acl) = %v, want ErrNotBuilt", err)
	}
}
