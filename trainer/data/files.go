package data

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// ListFiles expands path into files: a file is itself; a directory gives
// the files in it (not recursing, hidden ones skipped) whose names keep
// accepts, sorted by name.
func ListFiles(path string, keep func(name string) bool) ([]string, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("data: %w", err)
	}
	if !st.IsDir() {
		return []string{path}, nil
	}
	ents, err := os.ReadDir(path)
	if err != nil {
		return nil, fmt.Errorf("data: %w", err)
	}
	var out []string
	for _, e := range ents {
		if !e.IsDir() && !strings.HasPrefix(e.Name(), ".") && keep(e.Name()) {
			out = append(out, filepath.Join(path, e.Name()))
		}
	}
	sort.Strings(out)
	return out, nil
}
