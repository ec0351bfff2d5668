package cli

import (
	"encoding/json"
	"runtime"
	"strings"
	"testing"
)

// TestVersion: `version` and --version print the build's version, Go's and
// the platform; -o json one object.
func TestVersion(t *testing.T) {
	old := Version
	Version = "v1.2.3-4-gabcdef"
	t.Cleanup(func() { Version = old })
	for _, args := range [][]string{{"version"}, {"--version"}} {
		out, err := run(t, args...)
		if err != nil {
			t.Fatalf("%v: %v", args, err)
		}
		for _, want := range []string{"bloomctl v1.2.3-4-gabcdef", runtime.Version(), runtime.GOOS + "/" + runtime.GOARCH} {
			if !strings.Contains(strings.Join(strings.Fields(out), " "), want) {
				t.Errorf("%v: %q lacks %q", args, out, want)
			}
		}
	}
	for _, args := range [][]string{{"version", "-o", "json"}, {"-o", "json", "version"}} {
		out, err := run(t, args...)
		var b BuildInfo
		if err != nil || json.Unmarshal([]byte(out), &b) != nil {
			t.Fatalf("%v: %q %v", args, out, err)
		}
		if b != (BuildInfo{Name: "bloomctl", Version: "v1.2.3-4-gabcdef", Go: runtime.Version(), OS: runtime.GOOS, Arch: runtime.GOARCH}) {
			t.Errorf("%v: %+v", args, b)
		}
	}
}

// TestRolloutShowsVersions: a rollout's line and table name each node's
// version before and after its restart.
func TestRolloutShowsVersions(t *testing.T) {
	s := rolloutStep{Node: "n1", Before: "v1.0.0", After: "v1.1.0", Down: 1, CaughtUp: 2}
	if line := s.line(); !strings.Contains(line, "v1.0.0 -> v1.1.0") {
		t.Errorf("line %q", line)
	}
	b, _ := json.Marshal(s)
	if !strings.Contains(string(b), `"version_before":"v1.0.0","version_after":"v1.1.0"`) {
		t.Errorf("json %s", b)
	}
}
