package fakeacl

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// TestHeaderIsTheBackends checks that the fake compiles against the very
// acl.h the backend is generated from (go:embed cannot reach ../acl.h, so
// csrc holds a copy).
func TestHeaderIsTheBackends(t *testing.T) {
	want, err := os.ReadFile(filepath.Join("..", "acl.h"))
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join("csrc", "acl.h"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("csrc/acl.h differs from npu/acl/acl.h: copy it (cp ../acl.h csrc/acl.h) and rebuild")
	}
}

// build compiles the fake into a temporary directory, or skips the test
// when there is no C compiler.
func build(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if err := Build(dir); errors.Is(err, ErrNoCompiler) {
		t.Skip("no C compiler (cc): the fake ACL cannot be built here")
	} else if err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestBuild(t *testing.T) {
	dir := build(t)
	for _, name := range []string{"libascendcl.so", "libnnopbase.so", "libopapi.so"} {
		if _, err := os.Stat(filepath.Join(dir, "lib64", name)); err != nil {
			t.Error(err)
		}
	}
}

func TestEnv(t *testing.T) {
	t.Setenv("LD_LIBRARY_PATH", "/old")
	env := Env("/x", Options{SoC: Ascend910A, Devices: 3, StreamDelay: 1500, Fail: "aclnnAdd:2", OOMAfter: 10})
	want := []string{"ASCEND_HOME_PATH=/x", "LD_LIBRARY_PATH=/x/lib64:/old", "FAKE_ACL_SOC=Ascend910A",
		"FAKE_ACL_DEVICES=3", "FAKE_ACL_STREAM_DELAY_US=1", "FAKE_ACL_FAIL=aclnnAdd:2", "FAKE_ACL_OOM_AFTER=10"}
	if len(env) != len(want) {
		t.Fatalf("Env = %q, want %q", env, want)
	}
	for i := range want {
		if env[i] != want[i] {
			t.Errorf("Env[%d] = %q, want %q", i, env[i], want[i])
		}
	}
}
