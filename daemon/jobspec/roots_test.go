package jobspec

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCheckRoots: with --job-roots, every path a job names must be
// absolute and under a root, symbolic links and ".." resolved first.
func TestCheckRoots(t *testing.T) {
	root := t.TempDir()
	outside := t.TempDir()
	if err := os.Symlink(outside, filepath.Join(root, "escape")); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		edit func(*Spec)
		ok   bool
	}{
		{func(s *Spec) {}, true},
		{func(s *Spec) { s.Save = filepath.Join(root, "runs", "a") }, true}, // not made yet
		{func(s *Spec) { s.Save = root }, true},
		{func(s *Spec) { s.DataPath = filepath.Join(root, "data", "corpus_text_document") }, true},
		{func(s *Spec) { s.Save = "/etc/cron.d" }, false},
		{func(s *Spec) { s.Load = filepath.Join(root, "..", filepath.Base(outside)) }, false},
		{func(s *Spec) { s.Save = filepath.Join(root, "escape", "x") }, false}, // a link out
		{func(s *Spec) { s.TensorBoardDir = "relative/tb" }, false},
		{func(s *Spec) { s.TaskDataPath = root + "x/boolq.jsonl" }, false}, // a sibling sharing the prefix
	} {
		s := Default()
		c.edit(&s)
		err := s.CheckRoots([]string{root})
		if (err == nil) != c.ok {
			t.Errorf("%v: %v, want ok %v", s.Paths(), err, c.ok)
		}
		if err != nil && !strings.Contains(err.Error(), "--job-roots") {
			t.Errorf("error %q does not say why", err)
		}
	}
	s := Default()
	s.Save = "/anywhere"
	if err := s.CheckRoots(nil); err != nil {
		t.Errorf("no roots: %v", err)
	}
}
