package bloomd

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"bloom/daemon/identity"
)

func runDaemon(t *testing.T, args ...string) (string, error) {
	t.Helper()
	app := App()
	var out bytes.Buffer
	app.Writer, app.ErrWriter = &out, &out
	err := app.Run(append([]string{"bloomd"}, args...))
	return out.String(), err
}

func TestKeygen(t *testing.T) {
	out, err := runDaemon(t, "keygen")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := identity.ParseSecret(out); err != nil {
		t.Fatalf("keygen printed %q: %v", out, err)
	}
	path := filepath.Join(t.TempDir(), "cluster.secret")
	if _, err := runDaemon(t, "keygen", "--out", path); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("secret file %v mode %v", err, fi.Mode())
	}
	if _, err := runDaemon(t, "keygen", "--out", path); err == nil || !strings.Contains(err.Error(), "exists") {
		t.Fatalf("keygen over an existing secret: %v", err)
	}
	s, _ := identity.LoadSecret(path)
	out, err = runDaemon(t, "keygen", "--token", "--secret-file", path)
	if err != nil || strings.TrimSpace(out) != s.Token() {
		t.Fatalf("keygen --token: %q %v", out, err)
	}
	if _, err := runDaemon(t, "keygen", "--token"); err == nil {
		t.Fatal("keygen --token without a secret file")
	}
}
