package bloomd

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"bloom/daemon/identity"
)

func writeTestSecret(t *testing.T) (string, identity.Secret) {
	t.Helper()
	s, err := identity.GenerateSecret()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "cluster.secret")
	if err := os.WriteFile(path, []byte(s.String()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return path, s
}

func TestJoinRejectsBadFlags(t *testing.T) {
	secret, _ := writeTestSecret(t)
	dir := t.TempDir()
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"join", "--data-dir", dir}, "--secret-file"},
		{[]string{"join", "--secret-file", filepath.Join(dir, "nope")}, "secret file"},
		{[]string{"join", "--secret-file", secret, "--name", "n1"}, "--data-dir"},
		{[]string{"join", "--secret-file", secret, "--name", "n1", "--data-dir", dir, "--devices", "gpu:2"}, "--devices"},
		{[]string{"join", "--secret-file", secret, "--name", "n1", "--data-dir", dir, "--bind", "x"}, "--bind"},
		{[]string{"join", "--secret-file", secret, "--name", "n1", "--data-dir", dir, "--log-format", "xml"}, "--log-format"},
	}
	for _, tt := range tests {
		_, err := runDaemon(t, tt.args...)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%v: %v, want an error about %s", tt.args, err, tt.want)
		}
	}
}

// startJoin runs `bloomd join` in the background until the test ends.
func startJoin(t *testing.T, args ...string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	joinContext = func() (context.Context, context.CancelFunc) { return ctx, cancel }
	done := make(chan error, 1)
	go func() { _, err := runDaemon(t, append([]string{"join"}, args...)...); done <- err }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("bloomd join: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("bloomd join did not stop")
		}
	})
}

// TestResolveDevices: npu:all becomes the NPUs the runtime counts; other
// groups pass through; a build or machine without NPUs says so.
func TestResolveDevices(t *testing.T) {
	four := func() (int, error) { return 4, nil }
	for in, want := range map[string]string{"npu:all": "npu:0-3", "cpu:2": "cpu:2", "cpu:1;npu:all": "cpu:1;npu:0-3"} {
		if got, err := resolveDevices(in, four); err != nil || got != want {
			t.Errorf("%s: %q %v, want %q", in, got, err, want)
		}
	}
	none := func() (int, error) { return 0, errors.New("no CANN here") }
	if _, err := resolveDevices("npu:all", none); err == nil || !strings.Contains(err.Error(), "no CANN here") {
		t.Errorf("npu:all without a runtime: %v", err)
	}
}

// TestResolveHostPort: --peers and --advertise take host names (a
// container's service name), resolved once at start; IPs pass through.
func TestResolveHostPort(t *testing.T) {
	for in, want := range map[string]string{"localhost:7946": "127.0.0.1:7946", "10.0.0.2:7946": "10.0.0.2:7946", "[::1]:7950": "[::1]:7950", "x": "x"} {
		if got, err := resolveHostPort(in); err != nil || got != want {
			t.Errorf("resolveHostPort(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}
