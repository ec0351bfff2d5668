package bloomd

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"bloom/cli"
	ucli "github.com/urfave/cli/v2"
)

// TestVersionCompletionMan: bloomd has bloomctl's version, completion and
// man commands, about its own commands.
func TestVersionCompletionMan(t *testing.T) {
	out, err := runDaemon(t, "version", "-o", "json")
	var b cli.BuildInfo
	if err != nil || json.Unmarshal([]byte(out), &b) != nil || b.Name != "bloomd" || b.Version != cli.Version {
		t.Errorf("version -o json: %q %v", out, err)
	}
	if out, err := runDaemon(t, "--version"); err != nil || !strings.HasPrefix(out, "bloomd ") {
		t.Errorf("--version: %q %v", out, err)
	}
	if help, err := runDaemon(t, "completion", "--help"); err != nil || !strings.Contains(help, "bloomd completion zsh") || strings.Contains(help, "bloomctl") {
		t.Errorf("completion --help names the other program: %v\n%s", err, help)
	}
	script, err := runDaemon(t, "completion", "bash")
	if err != nil || !strings.Contains(script, "'join'") || !strings.Contains(script, "--drain-timeout") {
		t.Fatalf("completion bash: %v\n%s", err, script)
	}
	path := filepath.Join(t.TempDir(), "bloomd.bash")
	os.WriteFile(path, []byte(script), 0o644)
	if out, err := exec.Command("bash", "-n", path).CombinedOutput(); err != nil {
		t.Errorf("bash -n: %v\n%s", err, out)
	}
	dir := t.TempDir()
	if out, err := runDaemon(t, "man", "--out", dir); err != nil {
		t.Fatalf("man: %v %s", err, out)
	}
	page, err := os.ReadFile(filepath.Join(dir, "bloomd.1"))
	for _, name := range []string{"join", "keygen", "devices", "version"} {
		if err != nil || !strings.Contains(string(page), "\n.SH "+name+"\n") {
			t.Errorf("bloomd.1 has no section for %s (%v)", name, err)
		}
	}
	if strings.Contains(string(page), "\n.SH worker\n") {
		t.Error("bloomd.1 documents the hidden worker command")
	}
}

// TestNoCommand: bloomd with no command, or one it does not know, prints
// its usage or says so, and exits with status 2, not 0.
func TestNoCommand(t *testing.T) {
	for _, args := range [][]string{{}, {"jion"}} {
		app := App()
		var out bytes.Buffer
		app.Writer, app.ErrWriter = &out, &out
		app.ExitErrHandler = func(*ucli.Context, error) {} // return the error, not os.Exit
		err := app.Run(append([]string{"bloomd"}, args...))
		var ec ucli.ExitCoder
		if !errors.As(err, &ec) || ec.ExitCode() != 2 {
			t.Errorf("bloomd %v: %v, want exit status 2", args, err)
		}
		if len(args) == 0 && !strings.Contains(out.String(), "USAGE") {
			t.Errorf("bloomd: printed %q, want its usage", out.String())
		}
	}
}

// TestStrayArguments: a command that takes no arguments refuses them, exit
// status 2, rather than run without them (bloomd keygen extra would print
// a secret, the word ignored).
func TestStrayArguments(t *testing.T) {
	for _, args := range [][]string{{"keygen", "extra"}, {"devices", "extra"}, {"join", "extra"}} {
		app := App()
		var out bytes.Buffer
		app.Writer, app.ErrWriter = &out, &out
		app.ExitErrHandler = func(*ucli.Context, error) {}
		err := app.Run(append([]string{"bloomd"}, args...))
		var ec ucli.ExitCoder
		if !errors.As(err, &ec) || ec.ExitCode() != 2 || !strings.Contains(err.Error(), `unexpected arguments ["extra"]`) || out.Len() > 0 {
			t.Errorf("bloomd %v: %v, printed %q; want exit status 2 naming the argument", args, err, out.String())
		}
	}
}

// TestDevicesOutput: bloomd devices prints the backends one a line, or with
// --output json (-o json) as DeviceList; an unknown format is refused as
// bloomctl's listings refuse it.
func TestDevicesOutput(t *testing.T) {
	table, err := runDaemon(t, "devices")
	if err != nil {
		t.Fatalf("devices: %v", err)
	}
	names := strings.Fields(table)
	if !slices.Contains(names, "cpu") {
		t.Errorf("devices printed %q, want cpu among them", table)
	}
	for _, args := range [][]string{{"devices", "-o", "json"}, {"devices", "--output", "json"}, {"devices", "--output=json"}} {
		out, err := runDaemon(t, args...)
		if err != nil || strings.Count(out, "\n") != 1 || !strings.HasSuffix(out, "\n") {
			t.Fatalf("bloomd %v: %v, printed %q; want one line", args, err, out)
		}
		var keys map[string]json.RawMessage
		var list DeviceList
		if err := json.Unmarshal([]byte(out), &keys); err != nil || len(keys) != 1 || keys["backends"] == nil || !strings.Contains(out, `{"name":"cpu"}`) {
			t.Errorf("bloomd %v printed %q (%v), want {\"backends\":[{\"name\":...},...]}", args, out, err)
		}
		if err := json.Unmarshal([]byte(out), &list); err != nil {
			t.Fatalf("bloomd %v printed %q: %v", args, out, err)
		}
		var got []string
		for _, b := range list.Backends {
			got = append(got, b.Name)
		}
		if !slices.Equal(got, names) {
			t.Errorf("bloomd %v: backends %q, the table %q", args, got, names)
		}
	}
	_, err = runDaemon(t, "devices", "-o", "yaml")
	if err == nil || err.Error() != `unknown --output "yaml": use table or json` {
		t.Errorf("devices -o yaml: %v, want unknown --output naming table and json", err)
	}
}

// TestEveryFlagSaysWhatItIs: every flag of every command of bloomd and
// bloomctl that --help shows has a usage text (hidden commands, internal
// to the programs, aside).
func TestEveryFlagSaysWhatItIs(t *testing.T) {
	var walk func(path string, flags []ucli.Flag, cmds []*ucli.Command)
	walk = func(path string, flags []ucli.Flag, cmds []*ucli.Command) {
		for _, f := range flags {
			if u, ok := f.(ucli.DocGenerationFlag); !ok || strings.TrimSpace(u.GetUsage()) == "" {
				t.Errorf("%s --%s has no usage text", path, f.Names()[0])
			}
		}
		for _, c := range cmds {
			if !c.Hidden {
				walk(path+" "+c.Name, c.Flags, c.Subcommands)
			}
		}
	}
	for _, app := range []*ucli.App{App(), cli.CtlApp()} {
		walk(app.Name, app.Flags, app.Commands)
	}
}
