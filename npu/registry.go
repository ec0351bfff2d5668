package npu

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
)

// Options configure a device when it is opened.
type Options struct {
	// Threads is the number of host threads to compute with; 0 means every core.
	Threads int
	// Index selects the physical device on backends that have several.
	Index int
}

// Opener opens a device of one backend.
type Opener func(Options) (Device, error)

// ErrUnknownBackend is returned by Open for a name no backend registered.
var ErrUnknownBackend = errors.New("npu: unknown backend")

var (
	mu       sync.Mutex
	backends = map[string]Opener{}
)

// Register makes a backend available under name. It panics if the name is
// taken: two backends with one name is a programming error.
func Register(name string, open Opener) {
	mu.Lock()
	defer mu.Unlock()
	if _, dup := backends[name]; dup {
		panic("npu: backend registered twice: " + name)
	}
	backends[name] = open
}

// Backends lists the registered backend names, sorted.
func Backends() []string {
	mu.Lock()
	defer mu.Unlock()
	names := make([]string, 0, len(backends))
	for n := range backends {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Open opens a device of the named backend.
func Open(name string, o Options) (Device, error) {
	mu.Lock()
	open, ok := backends[name]
	mu.Unlock()
	if !ok {
		return nil, fmt.Errorf("%w %q (have %s)", ErrUnknownBackend, name, strings.Join(Backends(), ", "))
	}
	return open(o)
}
