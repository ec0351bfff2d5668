package fakeacl

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
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

// caseOptions configures the fake for the C test cases that need it; the
// others run with the defaults (Ascend910B1, 2 devices of 1 GiB).
var caseOptions = map[string]Options{
	"stale":        {StreamDelay: 200 * time.Millisecond},
	"free":         {StreamDelay: 200 * time.Millisecond},
	"soc910":       {SoC: Ascend910A},
	"oom":          {OOMAfter: 4096},
	"small_device": {DeviceMemory: 65536},
	"fail":         {Fail: "aclnnAdd:2"},
	"ops910":       {SoC: Ascend910A},
}

// TestFake compiles the C tests in test/ against the fake and runs each
// case in a process of its own (aclInit may be called once per process).
func TestFake(t *testing.T) {
	dir := build(t)
	cc, _ := compiler()
	srcs, err := filepath.Glob(filepath.Join("test", "*.c"))
	if err != nil || len(srcs) == 0 {
		t.Fatalf("test sources: %v", err)
	}
	bin, lib := filepath.Join(dir, "fake_test"), filepath.Join(dir, "lib64")
	args := slices.Concat([]string{"-std=c11", "-O1", "-Wall", "-Wextra", "-Werror", "-pthread", "-I", filepath.Join(dir, "src"),
		"-o", bin}, srcs, []string{"-L" + lib, "-lascendcl", "-ldl", "-lm"})
	if out, err := exec.Command(cc, args...).CombinedOutput(); err != nil {
		t.Fatalf("compiling the tests: %v\n%s", err, out)
	}
	listCmd := exec.Command(bin, "-list")
	listCmd.Env = append(os.Environ(), Env(dir, Options{})...)
	list, err := listCmd.Output()
	if err != nil {
		t.Fatalf("%s -list: %v", bin, err)
	}
	cases := strings.Fields(string(list))
	for name := range caseOptions {
		if !slices.Contains(cases, name) {
			t.Errorf("caseOptions names %q, which test/ does not have", name)
		}
	}
	for _, name := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			cmd := exec.Command(bin, name)
			cmd.Env = append(os.Environ(), Env(dir, caseOptions[name])...)
			cmd.Env = append(cmd.Env, "FAKE_ACL_LIBDIR="+lib)
			out, err := cmd.CombinedOutput()
			if err != nil || strings.TrimSpace(string(out)) != "ok" {
				t.Fatalf("%v\n%s", err, out)
			}
		})
	}
}
