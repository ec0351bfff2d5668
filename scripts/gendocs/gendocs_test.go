package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"bloom/daemon/jobspec"
)

// TestDocsUpToDate fails when a generated file in docs/ is not what
// gendocs writes now: a setting, flag or variable changed without
// `make docs`.
func TestDocsUpToDate(t *testing.T) {
	for name, want := range files() {
		got, err := os.ReadFile(filepath.Join("../../docs", name))
		if err != nil || string(got) != want {
			t.Errorf("docs/%s is stale (%v): run make docs and commit it", name, err)
		}
	}
}

// TestJobspecNamesEverySetting: every setting of the table, and every
// alias, is in the reference.
func TestJobspecNamesEverySetting(t *testing.T) {
	doc := jobspecMarkdown()
	for _, f := range jobspec.Fields() {
		for _, n := range append([]string{f.Name}, f.Aliases...) {
			if !strings.Contains(doc, "`--"+n+"`") {
				t.Errorf("docs/jobspec.md lacks --%s", n)
			}
		}
	}
}
