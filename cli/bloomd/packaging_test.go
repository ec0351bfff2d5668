package bloomd

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	ucli "github.com/urfave/cli/v2"

	"bloom/cli"
)

// The files in packaging/ name bloomd's binary path, commands, flags and
// environment variables; these tests hold them to the command definitions
// so that they cannot rot silently.

const packaging = "../../packaging/"

// unitFile is a systemd unit: each section's keys, with every value a key
// was given (in order; Environment= may repeat).
type unitFile map[string]map[string][]string

func parseUnit(t *testing.T, path string) unitFile {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	u, section := unitFile{}, ""
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, ";"):
		case strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]"):
			section = line[1 : len(line)-1]
			u[section] = map[string][]string{}
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok || section == "" {
				t.Fatalf("%s:%d: not KEY=VALUE in a section: %q", path, n, line)
			}
			u[section][k] = append(u[section][k], v)
		}
	}
	return u
}

// one is the last value of section's key ("" when unset).
func (u unitFile) one(section, key string) string {
	vs := u[section][key]
	if len(vs) == 0 {
		return ""
	}
	return vs[len(vs)-1]
}

// environment is the unit's Environment= assignments.
func (u unitFile) environment() map[string]string {
	env := map[string]string{}
	for _, line := range u["Service"]["Environment"] {
		for _, kv := range strings.Fields(line) {
			k, v, _ := strings.Cut(kv, "=")
			env[k] = v
		}
	}
	return env
}

// drainDefault is `bloomd join --drain-timeout`'s default.
func drainDefault(t *testing.T) time.Duration {
	for _, f := range joinCommand().Flags {
		if d, ok := f.(*ucli.DurationFlag); ok && d.Name == "drain-timeout" {
			return d.Value
		}
	}
	t.Fatal("bloomd join has no --drain-timeout")
	return 0
}

// envVars is every environment variable a flag of app's commands reads.
func envVars(app *ucli.App) map[string]bool {
	out := map[string]bool{}
	var walk func(flags []ucli.Flag, cmds []*ucli.Command)
	walk = func(flags []ucli.Flag, cmds []*ucli.Command) {
		for _, f := range flags {
			if e, ok := f.(interface{ GetEnvVars() []string }); ok {
				for _, v := range e.GetEnvVars() {
					out[v] = true
				}
			}
		}
		for _, c := range cmds {
			walk(c.Flags, c.Subcommands)
		}
	}
	walk(app.Flags, app.Commands)
	return out
}

// TestSystemdUnit: bloomd.service runs `bloomd join` as its own user with
// the data dir as its state directory, stops it with SIGTERM to bloomd
// alone and waits longer than the drain, restarts it on failure, and has
// no ExecReload (bloomd has no reload: SIGHUP would kill it undrained).
func TestSystemdUnit(t *testing.T) {
	u := parseUnit(t, packaging+"bloomd.service")
	want := map[string]string{
		"Type": "exec", "User": "bloomd", "Group": "bloomd", "StateDirectory": "bloomd", "StateDirectoryMode": "0700",
		"KillSignal": "SIGTERM", "KillMode": "mixed", "Restart": "on-failure", "ExecStart": "/usr/local/bin/bloomd join",
	}
	for k, v := range want {
		if got := u.one("Service", k); got != v {
			t.Errorf("[Service] %s=%q, want %q", k, got, v)
		}
	}
	if u.one("Unit", "Description") == "" || u.one("Install", "WantedBy") != "multi-user.target" {
		t.Errorf("[Unit] Description or [Install] WantedBy missing: %v", u)
	}
	if _, ok := u["Service"]["ExecReload"]; ok {
		t.Error("ExecReload: bloomd has no reload; a restart drains (see the unit's comment)")
	}
	stop, err := strconv.Atoi(u.one("Service", "TimeoutStopSec"))
	if drain := drainDefault(t); err != nil || time.Duration(stop)*time.Second <= drain+30*time.Second {
		t.Errorf("TimeoutStopSec=%s: want seconds, over --drain-timeout's default %v with time to leave", u.one("Service", "TimeoutStopSec"), drain)
	}
	env := u.environment()
	if env["BLOOMD_DATA_DIR"] != "/var/lib/"+u.one("Service", "StateDirectory") {
		t.Errorf("BLOOMD_DATA_DIR=%q is not the StateDirectory", env["BLOOMD_DATA_DIR"])
	}
	flags := envVars(App())
	for k := range env {
		if !flags[k] {
			t.Errorf("Environment=%s=...: no bloomd flag reads %s", k, k)
		}
	}

	// The drop-in sets flags bloomd has, and keeps the stop timeout over the drain.
	d := parseUnit(t, packaging+"bloomd.service.d/flags.conf")
	denv := d.environment()
	for k := range denv {
		if !flags[k] {
			t.Errorf("flags.conf: Environment=%s=...: no bloomd flag reads %s", k, k)
		}
	}
	if drain, err := time.ParseDuration(denv["BLOOMD_DRAIN_TIMEOUT"]); err == nil {
		stop, _ := strconv.Atoi(d.one("Service", "TimeoutStopSec"))
		if time.Duration(stop)*time.Second <= drain {
			t.Errorf("flags.conf: TimeoutStopSec=%d is not over BLOOMD_DRAIN_TIMEOUT=%v", stop, drain)
		}
	}
	systemdVerify(t)
}

// systemdVerify runs systemd-analyze verify on the unit and its drop-in,
// with ExecStart pointed at an executable that exists here.
func systemdVerify(t *testing.T) {
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Log("systemd-analyze is not installed: the unit was checked for its keys only, not verified by systemd (apt-get install systemd)")
		return
	}
	dir := t.TempDir()
	b, err := os.ReadFile(packaging + "bloomd.service")
	if err != nil {
		t.Fatal(err)
	}
	self, _ := os.Executable()
	unit := strings.ReplaceAll(string(b), "/usr/local/bin/bloomd", self)
	os.WriteFile(filepath.Join(dir, "bloomd.service"), []byte(unit), 0o644)
	os.MkdirAll(filepath.Join(dir, "bloomd.service.d"), 0o755)
	dropIn, _ := os.ReadFile(packaging + "bloomd.service.d/flags.conf")
	os.WriteFile(filepath.Join(dir, "bloomd.service.d", "flags.conf"), dropIn, 0o644)
	out, err := exec.Command(analyze, "verify", "--man=no", filepath.Join(dir, "bloomd.service")).CombinedOutput()
	if err != nil || len(strings.TrimSpace(string(out))) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
}

// command finds the command path words name under app ("join"), and
// returns it with how many words it took.
func command(app *ucli.App, words []string) (*ucli.Command, int) {
	var cmd *ucli.Command
	cmds, n := app.Commands, 0
	for _, w := range words {
		i := slices.IndexFunc(cmds, func(c *ucli.Command) bool { return c.HasName(w) })
		if i < 0 {
			break
		}
		cmd, cmds, n = cmds[i], cmds[i].Subcommands, n+1
	}
	return cmd, n
}

// checkCommandLines checks every command line in text that runs bloomd or
// bloomctl: its command exists and takes each --flag given after it.
func checkCommandLines(t *testing.T, name, text string) int {
	t.Helper()
	apps := map[string]*ucli.App{"bloomd": App(), "bloomctl": cli.CtlApp()}
	checked := 0
	for _, line := range strings.Split(text, "\n") {
		words := strings.FieldsFunc(line, func(r rune) bool { return strings.ContainsRune(" \t\"'[],()`", r) })
		for i, w := range words {
			app := apps[filepath.Base(w)]
			if app == nil || i+1 >= len(words) {
				continue
			}
			cmd, n := command(app, words[i+1:])
			if cmd == nil {
				continue // the binary's name in prose (systemctl restart bloomd)
			}
			checked++
			for _, f := range words[i+1+n:] {
				if f == "|" || f == "&&" || f == "||" || f == ";" || f == "\\" || strings.HasPrefix(f, "#") || strings.HasPrefix(f, ">") {
					break
				}
				flag, _, _ := strings.Cut(strings.TrimLeft(f, "-"), "=")
				if strings.HasPrefix(f, "-") && !slices.ContainsFunc(cmd.Flags, func(g ucli.Flag) bool { return slices.Contains(g.Names(), flag) }) {
					t.Errorf("%s: `%s %s` has no flag %s:\n%s", name, app.Name, cmd.Name, f, line)
				}
			}
		}
	}
	return checked
}

// TestContainerFiles: the Dockerfile builds both mains static with the
// version stamped where the code reads it, runs bloomd from where it put
// it, as a non-root user, with the data dir as a volume and both ports
// exposed; compose runs bloomd join with variables its flags read.
func TestContainerFiles(t *testing.T) {
	b, err := os.ReadFile(packaging + "Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	df := string(b)
	version := "-X " + reflect.TypeOf(cli.BuildInfo{}).PkgPath() + ".Version="
	mk, _ := os.ReadFile("../../Makefile")
	if !strings.Contains(string(mk), version) {
		t.Errorf("the Makefile does not stamp %s", version)
	}
	for _, want := range []string{
		"CGO_ENABLED=0 go build", version, "./cmd/bloomd ./cmd/bloomctl", "-o /out/usr/local/bin/",
		`ENTRYPOINT ["/usr/local/bin/bloomd"]`, `CMD ["join"]`, "VOLUME /var/lib/bloomd", "USER bloomd",
		"BLOOMD_DATA_DIR=/var/lib/bloomd", "EXPOSE 7946/tcp 7946/udp 7950/tcp 7950/udp", "STOPSIGNAL SIGTERM",
	} {
		if !strings.Contains(df, want) {
			t.Errorf("the Dockerfile lacks %q", want)
		}
	}
	if n := strings.Count(df, "\nFROM "); n < 2 {
		t.Errorf("the Dockerfile has %d stages, want a builder and a runtime", n)
	}
	def := joinDefaults(t)
	for _, port := range []string{def["bind"], def["api"]} {
		if !strings.Contains(df, port) {
			t.Errorf("the Dockerfile does not use bloomd's default address %s", port)
		}
	}
	env := envVars(App())
	for k, v := range envVars(cli.CtlApp()) {
		env[k] = v
	}
	c, err := os.ReadFile(packaging + "compose.yaml")
	if err != nil {
		t.Fatal(err)
	}
	compose := string(c)
	for name, text := range map[string]string{"Dockerfile": df, "compose.yaml": compose} {
		for _, m := range regexp.MustCompile(`\bBLOOMD?_[A-Z_]+\b`).FindAllString(text, -1) {
			if !env[m] {
				t.Errorf("%s names %s, which no flag reads", name, m)
			}
		}
	}
	if !strings.Contains(compose, `command: ["join"]`) || strings.Count(compose, `BLOOMD_BOOTSTRAP_EXPECT: "3"`) != 3 {
		t.Error("compose.yaml does not run three bloomd join with --bootstrap-expect 3")
	}
	if !strings.Contains(compose, "dockerfile: packaging/Dockerfile") || !strings.Contains(compose, ":/var/lib/bloomd") {
		t.Error("compose.yaml does not build packaging/Dockerfile or mount the data dir")
	}
	for name, text := range map[string]string{"Dockerfile": df, "compose.yaml": compose} {
		checkCommandLines(t, name, text)
	}
	unit, _ := os.ReadFile(packaging + "bloomd.service")
	if n := checkCommandLines(t, "bloomd.service", string(unit)); n < 3 {
		t.Errorf("bloomd.service: only %d bloomd/bloomctl command lines checked", n)
	}
}

// joinDefaults is join's default value of each flag, by name.
func joinDefaults(t *testing.T) map[string]string {
	out := map[string]string{}
	for _, f := range joinCommand().Flags {
		if s, ok := f.(*ucli.StringFlag); ok {
			out[s.Name] = s.Value
		}
	}
	return out
}
