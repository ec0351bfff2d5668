//go:build ascend && cgo

package acl

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"bloom/npu"
	"bloom/npu/acl/fakeacl"
	"bloom/npu/nputest"
)

// The tests run against a real CANN when ASCEND_HOME_PATH names one, and
// otherwise against the fake in fakeacl, built here with the system C
// compiler. The fake reads its configuration (SoC, injected failures) once,
// at aclInit, and aclInit runs once per process, so every configuration
// runs in a child process: the test binary again, with one test selected
// and childEnv naming it.

// childEnv names the test a child process runs.
const childEnv = "BLOOM_ACL_CHILD"

var (
	fake    bool   // testing against the fake
	noFake  string // why the fake could not be built
	fakeDir string // where the parent built it
)

func TestMain(m *testing.M) {
	os.Exit(testMain(m))
}

func testMain(m *testing.M) int {
	if os.Getenv(childEnv) != "" {
		fake = os.Getenv("BLOOM_ACL_FAKE") != "" // the parent configured this process
		return m.Run()
	}
	if os.Getenv("ASCEND_HOME_PATH") != "" {
		return m.Run() // a real CANN
	}
	fake = true
	dir, err := os.MkdirTemp("", "fakeacl")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	switch err := fakeacl.Build(dir); {
	case errors.Is(err, fakeacl.ErrNoCompiler):
		noFake = "no C compiler (cc) to build the fake ACL with: install gcc, or set ASCEND_HOME_PATH to a CANN installation"
	case err != nil:
		fmt.Fprintln(os.Stderr, "building the fake ACL:", err)
		return 1
	}
	fakeDir = dir
	return m.Run()
}

// needFake skips t unless the fake is in use.
func needFake(t *testing.T) {
	t.Helper()
	if !fake {
		t.Skip("needs the fake ACL (ASCEND_HOME_PATH names a real CANN)")
	}
	if noFake != "" {
		t.Skip(noFake)
	}
}

// inChild reports whether this process is the child running t; the
// parent (which skips) runs it through child.
func inChild(t *testing.T) bool {
	return os.Getenv(childEnv) == t.Name()
}

// child runs test in a child process on the fake configured by o, with env
// added, and fails t with the child's output if the child fails.
func child(t *testing.T, test string, o fakeacl.Options, env ...string) {
	t.Helper()
	needFake(t)
	args := []string{"-test.run=^" + test + "$", "-test.count=1"}
	if testing.Verbose() {
		args = append(args, "-test.v")
	}
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = slices.Concat(os.Environ(), fakeacl.Env(fakeDir, o), []string{childEnv + "=" + test, "BLOOM_ACL_FAKE=1"}, env)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s on the fake %+v %v: %v\n%s", test, o, env, err, out)
	}
	if strings.Contains(string(out), "no tests to run") {
		t.Fatalf("%s did not run in the child:\n%s", test, out)
	}
	if testing.Verbose() {
		t.Logf("%s on the fake %+v %v:\n%s", test, o, env, out)
	}
}

// options are the suite's tolerances for d's SoC: a 910 multiplies float32
// in fp16 (unit roundoff 2⁻¹¹) and has no bf16.
func options(d *Device) nputest.Options {
	if d.is910 {
		return nputest.Options{GemmRoundoff: 0x1p-11, NoBF16: true}
	}
	return nputest.Options{}
}

// open opens NPU 0 and closes it when t ends.
func open(t *testing.T) *Device {
	t.Helper()
	d, err := Open(0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := d.Close(); err != nil {
			t.Error(err)
		}
	})
	return d
}

// TestSoCModes runs the conformance suite against the fake as a 910B and as
// a 910, and as a 910B whose stream runs each task late, so that a result
// read without waiting for the stream would be stale.
func TestSoCModes(t *testing.T) {
	for _, c := range []struct {
		name string
		o    fakeacl.Options
	}{
		{fakeacl.Ascend910B1, fakeacl.Options{SoC: fakeacl.Ascend910B1}},
		{fakeacl.Ascend910A, fakeacl.Options{SoC: fakeacl.Ascend910A}},
		{"slow stream", fakeacl.Options{SoC: fakeacl.Ascend910B1, StreamDelay: 50 * time.Microsecond}},
	} {
		t.Run(c.name, func(t *testing.T) { child(t, "TestConformance", c.o) })
	}
}

// TestConformance is the suite on NPU 0: in-process on a real CANN, in a
// child per SoC (TestSoCModes) on the fake.
func TestConformance(t *testing.T) {
	if fake && !inChild(t) {
		t.Skip("on the fake this runs in a child process per SoC: see TestSoCModes")
	}
	d := open(t)
	t.Logf("NPU 0 is a %s", d.SoC())
	nputest.RunWith(t, d, options(d))
}

// TestInjectedFailure checks that an operator failing on the device (an
// asynchronous AI Core exception, surfacing at the next synchronisation)
// panics with an *Error that matches ErrDevice, and that the device then
// refuses every call with it.
func TestInjectedFailure(t *testing.T) {
	if !inChild(t) {
		child(t, t.Name(), fakeacl.Options{Fail: "aclnnAdd:2"})
		return
	}
	d := open(t)
	x, y := d.Alloc(8), d.Alloc(8)
	d.Add(y, x, x, 8) // the first aclnnAdd runs
	d.Read(make([]float32, 8), y)
	d.Add(y, x, x, 8) // the second fails on the stream
	err := panicOf(func() { d.Read(make([]float32, 8), y) })
	var e *Error
	if !errors.As(err, &e) || !errors.Is(err, ErrDevice) || errors.Is(err, ErrOOM) {
		t.Fatalf("Read after a failed operator panicked with %v (%T), want an *Error matching ErrDevice", err, err)
	}
	t.Logf("the failure: %v", err)
	if again := panicOf(func() { d.Fill(x, 1) }); again != err {
		t.Errorf("a call after the failure panicked with %v, want the first error %v", again, err)
	}
}

// TestOOM checks that exhausted device memory panics with an *Error
// matching ErrOOM.
func TestOOM(t *testing.T) {
	if !inChild(t) {
		child(t, t.Name(), fakeacl.Options{OOMAfter: 4 << 20})
		return
	}
	d := open(t)
	var err error
	for i := 0; i < 16 && err == nil; i++ {
		err = panicOf(func() { d.Alloc(1 << 18) }) // 1 MiB each
	}
	if !errors.Is(err, ErrOOM) || !errors.Is(err, ErrDevice) {
		t.Fatalf("allocating past the device's memory panicked with %v (%T), want an *Error matching ErrOOM", err, err)
	}
	t.Logf("the failure: %v", err)
}

// TestMissingCANN checks that a process without CANN's libraries gets an
// error naming what was looked for where.
func TestMissingCANN(t *testing.T) {
	if !inChild(t) {
		child(t, t.Name(), fakeacl.Options{}, "ASCEND_HOME_PATH=/nonexistent/cann", "ASCEND_TOOLKIT_HOME=", "LD_LIBRARY_PATH=")
		return
	}
	_, err := npu.Open("acl", npu.Options{})
	if err == nil {
		t.Fatal("Open without CANN succeeded")
	}
	for _, want := range []string{"libascendcl.so", "/nonexistent/cann/lib64/libascendcl.so", "ASCEND_HOME_PATH", "LD_LIBRARY_PATH"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("the error does not name %q: %v", want, err)
		}
	}
}

// TestNoBF16On910 checks that a 910 refuses bf16 with ErrNoBF16.
func TestNoBF16On910(t *testing.T) {
	if !inChild(t) {
		child(t, t.Name(), fakeacl.Options{SoC: fakeacl.Ascend910A})
		return
	}
	d := open(t)
	if err := panicOf(func() { d.AllocHalf(npu.BF16, 4) }); !errors.Is(err, ErrNoBF16) {
		t.Fatalf("AllocHalf(BF16) on a 910 panicked with %v, want ErrNoBF16", err)
	}
}

// TestCloseEndsThread checks that Close ends the device's goroutine (its
// thread) and that a closed device refuses calls.
func TestCloseEndsThread(t *testing.T) {
	if !inChild(t) {
		child(t, t.Name(), fakeacl.Options{})
		return
	}
	cycle := func() *Device {
		d, err := Open(1)
		if err != nil {
			t.Fatal(err)
		}
		d.Fill(d.Alloc(10), 1)
		if err := d.Close(); err != nil {
			t.Fatal(err)
		}
		return d
	}
	cycle() // starts what the runtime starts once (the cleanup goroutine)
	before := runtime.NumGoroutine()
	d := cycle()
	deadline := time.Now().Add(10 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		runtime.Gosched()
	}
	if n := runtime.NumGoroutine(); n > before {
		t.Errorf("%d goroutines after Open and Close, %d before", n, before)
	}
	if err := panicOf(func() { d.Alloc(1) }); err == nil || !strings.Contains(err.Error(), "closed") {
		t.Errorf("Alloc on a closed device panicked with %v, want a closed device's refusal", err)
	}
}

// TestClassify checks the SoC names that select 910 behaviour.
func TestClassify(t *testing.T) {
	for _, c := range []struct {
		soc       string
		is910, ok bool
	}{
		{"Ascend910A", true, true}, {"Ascend910ProB", true, true}, {"Ascend910B", true, true},
		{"Ascend910B1", false, true}, {"Ascend910B4", false, true}, {"Ascend910_9391", false, true},
		{"Ascend310P3", false, false},
	} {
		if is910, ok := classify(c.soc); is910 != c.is910 || ok != c.ok {
			t.Errorf("classify(%q) = %v, %v; want %v, %v", c.soc, is910, ok, c.is910, c.ok)
		}
	}
}

// panicOf returns what f panics with, as an error (nil if f returns).
func panicOf(f func()) (err error) {
	defer func() {
		if p := recover(); p != nil {
			if e, ok := p.(error); ok {
				err = e
				return
			}
			err = fmt.Errorf("panic: %v", p)
		}
	}()
	f()
	return nil
}

// TestSplitOperatorLibrary: a CANN whose operators come as
// libopapi_math.so and libopapi_nn.so (no libopapi.so) loads and runs.
func TestSplitOperatorLibrary(t *testing.T) {
	if !inChild(t) {
		needFake(t)
		dir := t.TempDir()
		lib := filepath.Join(dir, "lib64")
		if err := os.MkdirAll(lib, 0o755); err != nil {
			t.Fatal(err)
		}
		for from, to := range map[string][]string{"libascendcl.so": {"libascendcl.so"}, "libnnopbase.so": {"libnnopbase.so"},
			"libopapi.so": {"libopapi_math.so", "libopapi_nn.so"}} {
			b, err := os.ReadFile(filepath.Join(fakeDir, "lib64", from))
			if err != nil {
				t.Fatal(err)
			}
			for _, name := range to {
				if err := os.WriteFile(filepath.Join(lib, name), b, 0o755); err != nil {
					t.Fatal(err)
				}
			}
		}
		child(t, t.Name(), fakeacl.Options{}, "ASCEND_HOME_PATH="+dir, "LD_LIBRARY_PATH="+lib)
		return
	}
	d := open(t)
	x := d.Alloc(4)
	d.Write(x, []float32{1, 2, 3, 4})
	d.Add(x, x, x, 4)
	got := make([]float32, 4)
	d.Read(got, x)
	if got[3] != 8 {
		t.Fatalf("Add on the split library: %v", got)
	}
}

// TestHostMemory: page-locked host memory comes zeroed, carries data to
// and from the device, and goes back once; freeing it twice is refused.
func TestHostMemory(t *testing.T) {
	if !inChild(t) {
		child(t, t.Name(), fakeacl.Options{})
		return
	}
	d := open(t)
	var _ npu.HostMemory = d
	h := d.AllocHost(5)
	if len(h) != 5 || h[0] != 0 || h[4] != 0 {
		t.Fatalf("AllocHost(5): %v", h)
	}
	copy(h, []float32{1, 2, 3, 4, 5})
	x := d.Alloc(5)
	d.Write(x, h)
	d.Add(x, x, x, 5)
	clear(h)
	d.Read(h, x)
	if h[4] != 10 {
		t.Fatalf("through page-locked memory: %v", h)
	}
	d.FreeHost(h)
	var e *Error
	if err := panicOf(func() { d.FreeHost(h) }); !errors.As(err, &e) {
		t.Fatalf("a second FreeHost: %v", err)
	}
}

// TestNoWeightPacker: the backend keeps an inference rank's weights once
// (no npu.WeightPacker) and does not attend over a paged pool in place (no
// npu.PagedAttender: a serving engine prefills each prompt in a staging
// cache), as the memory plan of a rank on an NPU node assumes
// (daemon/jobspec's deviceKinds); either added here must be counted there.
func TestNoWeightPacker(t *testing.T) {
	var d npu.Device = (*Device)(nil)
	if _, ok := d.(npu.WeightPacker); ok {
		t.Fatal("the ACL device packs weights: count the packed copy for npu in daemon/jobspec's deviceKinds")
	}
	if _, ok := d.(npu.PagedAttender); ok {
		t.Fatal("the ACL device attends over pages in place: a serving engine keeps no staging cache there (daemon/jobspec's deviceKinds)")
	}
}
