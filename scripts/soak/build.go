package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// binaries returns the directory holding bloomd and bloomctl: $BIN when
// it is set, else dir after one `go build` of both into it.
func binaries(ctx context.Context, dir string) (string, error) {
	if bin := os.Getenv("BIN"); bin != "" {
		abs, err := filepath.Abs(bin)
		if err != nil {
			return "", fmt.Errorf("soak: BIN: %w", err)
		}
		for _, b := range []string{"bloomd", "bloomctl"} {
			if _, err := os.Stat(filepath.Join(abs, b)); err != nil {
				return "", fmt.Errorf("soak: BIN=%s has no %s (make build makes both): %w", bin, b, err)
			}
		}
		return abs, nil
	}
	gomod, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil || len(strings.TrimSpace(string(gomod))) == 0 {
		return "", fmt.Errorf("soak: go env GOMOD: %v (run inside the bloom module, or set BIN)", err)
	}
	cmd := exec.CommandContext(ctx, "go", "build", "-o", dir+string(filepath.Separator), "./cmd/bloomd", "./cmd/bloomctl")
	cmd.Dir = filepath.Dir(strings.TrimSpace(string(gomod)))
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("soak: go build: %v\n%s", err, out)
	}
	return dir, nil
}
