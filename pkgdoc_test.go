package bloom

import (
	"os/exec"
	"strings"
	"testing"
)

// TestPackageDocs fails for a package without a package comment: every
// package says what it is, once (STYLE.md 1).
func TestPackageDocs(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", "{{.ImportPath}}\t{{.Doc}}", "./...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		path, doc, _ := strings.Cut(line, "\t")
		if strings.TrimSpace(doc) == "" {
			t.Errorf("%s has no package comment: add a doc.go saying what it is, what it owns and what it must not import", path)
		}
	}
}
