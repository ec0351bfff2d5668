package cli

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// topLevel is bloomctl's visible top-level commands.
func topLevel(t *testing.T) []string {
	t.Helper()
	var names []string
	for _, c := range CtlApp().Commands {
		if !c.Hidden {
			names = append(names, c.Name)
		}
	}
	if len(names) < 20 {
		t.Fatalf("only %d commands: %v", len(names), names)
	}
	return names
}

// TestCompletionBash: the bash script parses (bash -n) and, sourced,
// completes commands, subcommands, flags, and files after a flag that
// takes a value.
func TestCompletionBash(t *testing.T) {
	script, err := run(t, "completion", "bash")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "bloomctl.bash")
	if err := os.WriteFile(path, []byte(script), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("bash", "-n", path).CombinedOutput(); err != nil {
		t.Fatalf("bash -n: %v\n%s", err, out)
	}
	for _, c := range []struct{ words, want, not string }{
		{"bloomctl sub", "submit", ""},
		{"bloomctl submit ''", "pretrain generate evaluate serve", ""},
		{"bloomctl -o json submit pretrain --tensor-model-p", "--tensor-model-parallel-size", ""},
		{"bloomctl --addr rollout j", "jobs job", ""}, // rollout is --addr's value
		{"bloomctl completion ''", "bash zsh fish", ""},
		{"bloomctl submit pretrain --save ''", "", "pretrain"}, // a file
	} {
		cmd := exec.Command("bash", "-c", `source "$1"; eval "COMP_WORDS=($2)"; COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); _bloomctl; echo "${COMPREPLY[*]}"`, "bash", path, c.words)
		out, err := cmd.CombinedOutput()
		got := strings.TrimSpace(string(out))
		if err != nil || !strings.Contains(got, c.want) || c.not != "" && strings.Contains(got, c.not) {
			t.Errorf("%s: got %q (%v), want %q", c.words, got, err, c.want)
		}
	}
}

// TestCompletionZshFish: the zsh and fish scripts name every top-level
// command (and parse, where zsh and fish are installed).
func TestCompletionZshFish(t *testing.T) {
	for _, shell := range []string{"zsh", "fish"} {
		script, err := run(t, "completion", shell)
		if err != nil || strings.TrimSpace(script) == "" {
			t.Fatalf("%s: %q %v", shell, script, err)
		}
		for _, name := range topLevel(t) {
			if !regexp.MustCompile(`(?m)['\s]` + name + `[:'\s]`).MatchString(script) {
				t.Errorf("the %s script does not name %s", shell, name)
			}
		}
		if _, err := exec.LookPath(shell); err != nil {
			t.Logf("%s is not installed: its script's syntax is not checked (apt-get install %s)", shell, shell)
			continue
		}
		path := filepath.Join(t.TempDir(), "bloomctl."+shell)
		os.WriteFile(path, []byte(script), 0o644)
		if out, err := exec.Command(shell, "-n", path).CombinedOutput(); err != nil {
			t.Errorf("%s -n: %v\n%s", shell, err, out)
		}
	}
	if _, err := run(t, "completion", "tcsh"); err == nil || !strings.Contains(err.Error(), "bash, zsh or fish") {
		t.Errorf("completion tcsh: %v", err)
	}
}

// TestManPage: `bloomctl man` writes bloomctl.1, a section of which names
// each top-level command.
func TestManPage(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "man1")
	if out, err := run(t, "man", "--out", dir); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	b, err := os.ReadFile(filepath.Join(dir, "bloomctl.1"))
	if err != nil {
		t.Fatal(err)
	}
	page := string(b)
	if !strings.HasPrefix(page, ".nh\n.TH bloomctl 1") {
		t.Errorf("not a section 1 man page: %.40q", page)
	}
	for _, name := range topLevel(t) {
		if !strings.Contains(page, "\n.SH "+name+"\n") {
			t.Errorf("the man page has no section for %s", name)
		}
	}
}
