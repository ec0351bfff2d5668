//go:build ascend && cgo

package acl

/*
#cgo LDFLAGS: -ldl
#include <stdlib.h>
#include "loader.h"
*/
import "C"

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"unsafe"
)

// libraries are CANN's, in acl.h's library numbering: each a file, or
// (splits) files that together hold its functions, tried in order. Newer
// CANN ships the operators as libopapi_math.so and libopapi_nn.so.
var libraries = [3][][]string{
	{{"libascendcl.so"}},
	{{"libnnopbase.so"}},
	{{"libopapi.so"}, {"libopapi_math.so", "libopapi_nn.so"}},
}

var (
	loadOnce sync.Once
	loadErr  error

	phase2Mu sync.Mutex
	phase2   = map[string]unsafe.Pointer{} // second phases of the operators, by name
)

// load opens CANN's libraries, resolves every function of ACL_FUNCS and
// calls aclInit, once per process; later calls return the first's error.
func load() error {
	loadOnce.Do(func() {
		// aclGetRecentErrMsg reads the calling thread's message: the
		// goroutine must not move between aclInit and it.
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		if loadErr = openLibraries(); loadErr != nil {
			return
		}
		if rc := C.aclInit(nil); rc != C.ACL_SUCCESS && rc != C.ACL_ERROR_REPEAT_INITIALIZE {
			loadErr = &Error{Device: -1, Op: "open", Call: "aclInit", Code: int(rc), Msg: recentMsg()}
		}
	})
	return loadErr
}

// candidates lists where library name is looked for: under the CANN
// installation the environment names, then the dynamic loader's own search
// (LD_LIBRARY_PATH, the cache, the default directories).
func candidates(name string) []string {
	var paths []string
	for _, env := range []string{"ASCEND_HOME_PATH", "ASCEND_TOOLKIT_HOME"} {
		if dir := os.Getenv(env); dir != "" {
			paths = append(paths, filepath.Join(dir, "lib64", name))
		}
	}
	return append(paths, name)
}

// openLibraries dlopens the three libraries and resolves the functions.
func openLibraries() error {
	for lib, forms := range libraries {
		var tried []string
		opened := false
		for _, files := range forms {
			if opened = openAll(lib, files, &tried); opened {
				break
			}
		}
		if !opened {
			return fmt.Errorf("acl: cannot open %s (CANN's runtime): looked in $ASCEND_HOME_PATH/lib64 (%s), "+
				"$ASCEND_TOOLKIT_HOME/lib64 (%s) and the loader's search path (LD_LIBRARY_PATH=%s): %s; "+
				"install CANN and source its set_env.sh, or set ASCEND_HOME_PATH",
				libName(lib), envOrUnset("ASCEND_HOME_PATH"), envOrUnset("ASCEND_TOOLKIT_HOME"), envOrUnset("LD_LIBRARY_PATH"),
				strings.Join(tried, "; "))
		}
	}
	var lib C.int
	if missing := C.bl_resolve(&lib); missing != nil {
		return fmt.Errorf("acl: %s has no function %s: this CANN is older than the backend needs (ASCEND_HOME_PATH=%s, LD_LIBRARY_PATH=%s)",
			libName(int(lib)), C.GoString(missing), envOrUnset("ASCEND_HOME_PATH"), envOrUnset("LD_LIBRARY_PATH"))
	}
	return nil
}

// openAll opens every file of one form of library lib, each from the
// first place it is found, and reports whether all opened; what failed is
// added to tried.
func openAll(lib int, files []string, tried *[]string) bool {
	for _, name := range files {
		opened := false
		for _, path := range candidates(name) {
			if strings.Contains(path, "/") {
				if _, err := os.Stat(path); err != nil {
					*tried = append(*tried, path+": not found")
					continue
				}
			}
			cpath := C.CString(path)
			msg := C.bl_open(C.int(lib), cpath)
			C.free(unsafe.Pointer(cpath))
			if msg == nil {
				opened = true
				break
			}
			*tried = append(*tried, C.GoString(msg))
		}
		if !opened {
			return false
		}
	}
	return true
}

// libName names library lib as its first form's files.
func libName(lib int) string { return strings.Join(libraries[lib][0], ", ") }

// recentMsg returns aclGetRecentErrMsg's text, or "". The message is the
// calling thread's: call it on the OS thread of the call that failed (a
// Device's loop, or a goroutine locked to its thread).
func recentMsg() string {
	if m := C.aclGetRecentErrMsg(); m != nil {
		return strings.TrimSpace(C.GoString(m))
	}
	return ""
}

// launcher returns the second phase of operator name.
func launcher(name string) unsafe.Pointer {
	phase2Mu.Lock()
	defer phase2Mu.Unlock()
	if f, ok := phase2[name]; ok {
		return f
	}
	cname := C.CString(name)
	defer C.free(unsafe.Pointer(cname))
	f := C.bl_find(cname)
	if f == nil {
		panic("acl: no operator " + name + " in acl.h")
	}
	phase2[name] = f
	return f
}

// DeviceCount returns how many NPUs the runtime sees, loading CANN if it is
// not loaded yet.
func DeviceCount() (int, error) {
	if err := load(); err != nil {
		return 0, err
	}
	runtime.LockOSThread() // for recentMsg, as in load
	defer runtime.UnlockOSThread()
	var n C.uint32_t
	if rc := C.aclrtGetDeviceCount(&n); rc != C.ACL_SUCCESS {
		return 0, &Error{Device: -1, Op: "DeviceCount", Call: "aclrtGetDeviceCount", Code: int(rc), Msg: recentMsg()}
	}
	return int(n), nil
}
