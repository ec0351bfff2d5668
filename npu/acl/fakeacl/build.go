package fakeacl

import (
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

//go:embed csrc/*.c csrc/*.h
var sources embed.FS

// The SoC names the fake knows (aclrtGetSocName returns the one chosen).
const (
	Ascend910A  = "Ascend910A"  // the original 910: fp16 cube, no BF16, no ApplyAdamWV2
	Ascend910B1 = "Ascend910B1" // Atlas A2 (the default)
)

// ErrNoCompiler is returned by Build when there is no C compiler.
var ErrNoCompiler = errors.New("fakeacl: no C compiler (cc, or $CC) in PATH")

// Options configure the fake; the zero value is the fake's defaults.
type Options struct {
	SoC          string        // Ascend910A or Ascend910B1 ("" = Ascend910B1)
	Devices      int           // device count (0 = 2)
	DeviceMemory int64         // bytes per device (0 = 1 GiB)
	StreamDelay  time.Duration // each stream task sleeps this long before it runs
	// Fail makes the N-th launch of an operator fail asynchronously:
	// "aclnnAdd:3" (or "Add:3"); the stream's next aclrtSynchronizeStream
	// returns ACL_ERROR_RT_AICORE_EXCEPTION.
	Fail string
	// FailOnce, with Fail, is a file path: only the first process to reach
	// the count fails (it creates the file), so the restart of a job whose
	// worker the failure ended runs clean. Empty: every process fails.
	FailOnce string
	// OOMAfter makes aclrtMalloc fail once a device has handed out this many
	// bytes in all (freed ones included); 0 = never.
	OOMAfter int64
}

// Env returns the environment variables that load the fake built in dir
// (ASCEND_HOME_PATH=dir, dir/lib64 first in LD_LIBRARY_PATH) and configure
// it with o. Append them to os.Environ() for a child process.
func Env(dir string, o Options) []string {
	lib := filepath.Join(dir, "lib64")
	if old := os.Getenv("LD_LIBRARY_PATH"); old != "" {
		lib += ":" + old
	}
	env := []string{"ASCEND_HOME_PATH=" + dir, "LD_LIBRARY_PATH=" + lib}
	add := func(name, v string) { env = append(env, name+"="+v) }
	if o.SoC != "" {
		add("FAKE_ACL_SOC", o.SoC)
	}
	if o.Devices > 0 {
		add("FAKE_ACL_DEVICES", strconv.Itoa(o.Devices))
	}
	if o.DeviceMemory > 0 {
		add("FAKE_ACL_DEVICE_MEMORY", strconv.FormatInt(o.DeviceMemory, 10))
	}
	if o.StreamDelay > 0 {
		add("FAKE_ACL_STREAM_DELAY_US", strconv.FormatInt(o.StreamDelay.Microseconds(), 10))
	}
	if o.Fail != "" {
		add("FAKE_ACL_FAIL", o.Fail)
	}
	if o.FailOnce != "" {
		add("FAKE_ACL_FAIL_ONCE", o.FailOnce)
	}
	if o.OOMAfter > 0 {
		add("FAKE_ACL_OOM_AFTER", strconv.FormatInt(o.OOMAfter, 10))
	}
	return env
}

// compiler returns $CC or cc.
func compiler() (string, error) {
	cc := os.Getenv("CC")
	if cc == "" {
		cc = "cc"
	}
	path, err := exec.LookPath(cc)
	if err != nil {
		return "", ErrNoCompiler
	}
	return path, nil
}

// Build compiles libascendcl.so, libnnopbase.so and libopapi.so into
// dir/lib64 (and writes their sources to dir/src) with the system C
// compiler. It returns ErrNoCompiler when there is none.
func Build(dir string) error {
	cc, err := compiler()
	if err != nil {
		return err
	}
	src, lib := filepath.Join(dir, "src"), filepath.Join(dir, "lib64")
	if err := writeSources(src); err != nil {
		return err
	}
	if err := os.MkdirAll(lib, 0o755); err != nil {
		return fmt.Errorf("fakeacl: %w", err)
	}
	files, err := filepath.Glob(filepath.Join(src, "*.c"))
	if err != nil {
		return fmt.Errorf("fakeacl: %w", err)
	}
	var core []string
	for _, f := range files {
		if filepath.Base(f) != "shim.c" {
			core = append(core, f)
		}
	}
	flags := []string{"-std=c11", "-O2", "-Wall", "-Wextra", "-Werror", "-fPIC", "-shared", "-pthread"}
	args := slices.Concat(flags, []string{"-o", filepath.Join(lib, "libascendcl.so")}, core, []string{"-lm", "-Wl,--no-undefined"})
	if err := run(cc, args...); err != nil {
		return err
	}
	for _, name := range []string{"libnnopbase.so", "libopapi.so"} {
		args := slices.Concat(flags, []string{"-o", filepath.Join(lib, name), filepath.Join(src, "shim.c"),
			"-L" + lib, "-Wl,--no-as-needed", "-lascendcl", "-Wl,-rpath,$ORIGIN"})
		if err := run(cc, args...); err != nil {
			return err
		}
	}
	return nil
}

func writeSources(dst string) error {
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return fmt.Errorf("fakeacl: %w", err)
	}
	return fs.WalkDir(sources, "csrc", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := sources.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, filepath.Base(path)), b, 0o644)
	})
}

func run(name string, args ...string) error {
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("fakeacl: %s %s: %v\n%s", filepath.Base(name), strings.Join(args, " "), err, out)
	}
	return nil
}
