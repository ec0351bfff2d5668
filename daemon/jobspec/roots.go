package jobspec

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
)

// Paths are the files and directories the job names, by flag: what its
// workers read and write on every node, as the bloomd's user.
func (s *Spec) Paths() map[string]string {
	out := map[string]string{}
	for flag, p := range map[string]string{"save": s.Save, "load": s.Load, "data-path": s.DataPath,
		"tokenizer-name-or-path": s.TokenizerNameOrPath, "task-data-path": s.TaskDataPath, "tensorboard-dir": s.TensorBoardDir} {
		if p != "" {
			out[flag] = p
		}
	}
	return out
}

// CheckRoots refuses a job that names a path outside roots (a node's
// --job-roots; none: any path). Paths must be absolute; each is taken with
// its symbolic links resolved as far as it exists, so a link inside a
// root cannot lead out of it.
func (s *Spec) CheckRoots(roots []string) error {
	if len(roots) == 0 {
		return nil
	}
	var errs []error
	for flag, p := range s.Paths() {
		if !filepath.IsAbs(p) {
			errs = append(errs, fmt.Errorf("--%s %q: give an absolute path under %s (this node confines jobs to --job-roots)", flag, p, strings.Join(roots, ", ")))
			continue
		}
		real := resolve(p)
		inside := false
		for _, r := range roots {
			inside = inside || within(real, resolve(r))
		}
		if !inside {
			errs = append(errs, fmt.Errorf("--%s %s is outside this node's --job-roots (%s)", flag, p, strings.Join(roots, ", ")))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w: %w", ErrInvalid, errors.Join(errs...))
	}
	return nil
}

// resolve is p cleaned, with the symbolic links of its longest existing
// prefix resolved.
func resolve(p string) string {
	p = filepath.Clean(p)
	rest := ""
	for {
		if real, err := filepath.EvalSymlinks(p); err == nil {
			return filepath.Join(real, rest)
		}
		parent := filepath.Dir(p)
		if parent == p {
			return filepath.Join(p, rest)
		}
		rest = filepath.Join(filepath.Base(p), rest)
		p = parent
	}
}

// within reports whether p is root or under it.
func within(p, root string) bool {
	rel, err := filepath.Rel(root, p)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator))
}
