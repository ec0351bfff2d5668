package identity

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestSecretFileMode: a secret file others may read or write is refused,
// naming the fix; mode 600 loads.
func TestSecretFileMode(t *testing.T) {
	s, err := GenerateSecret()
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(p, []byte(s.String()+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadSecret(p); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Errorf("a 0644 secret file: %v", err)
	}
	if err := os.Chmod(p, 0o600); err != nil {
		t.Fatal(err)
	}
	if got, err := LoadSecret(p); err != nil || got != s {
		t.Errorf("a 0600 secret file: %v", err)
	}
}
