package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"

	ucli "github.com/urfave/cli/v2"
)

// Version is the build's version, set with -ldflags "-X bloom/cli.Version=...".
var Version = "dev"

// CtlApp is bloomctl: the user's tool.
func CtlApp() *ucli.App {
	cmds := []*ucli.Command{scoreCommand(), generateCommand(), serveCommand(), trainCommand(), benchCommand(), tokenizeCommand(), tokenizerCommand(), preprocessCommand(), convertCommand(), evaluateCommand(), membersCommand(), statusCommand(), submitCommand(), planCommand(), jobsCommand(), jobCommand(), logsCommand(), cancelCommand(), checkpointsCommand(), metricsCommand(), plotCommand(), rolloutCommand(), VersionCommand(), CompletionCommand("bloomctl"), ManCommand()}
	withGlobalFlags(cmds, ctlGlobalFlags)
	return OneLineUsageErrors(&ucli.App{
		Name:    "bloomctl",
		Usage:   "train, fine-tune, score and generate with BLOOM models",
		Version: Version,
		Description: "bloomctl talks to a bloom cluster and carries the offline tools.\n" +
			"The global options, and the flags docs/environment.md lists, can also be set from\n" +
			"BLOOM_* environment variables (--addr: BLOOM_ADDR); the global options go before\n" +
			"or after the command (bloomctl jobs --output json).",
		Flags:                ctlGlobalFlags(),
		Commands:             cmds,
		EnableBashCompletion: true,
	})
}

// ctlGlobalFlags are bloomctl's global options. Every command takes them
// too, after its name, where users put them; read them with globalString
// and globalInt, which take the value given nearest the command.
func ctlGlobalFlags() []ucli.Flag {
	return []ucli.Flag{
		&ucli.StringFlag{Name: "output", Aliases: []string{"o"}, Value: "table", Usage: "output format: table or json", EnvVars: []string{"BLOOM_OUTPUT"}},
		&ucli.IntFlag{Name: "threads", Usage: "CPU threads for local compute (0 = every core)", EnvVars: []string{"BLOOM_THREADS"}},
		&ucli.StringFlag{Name: "addr", Value: "127.0.0.1:7950", Usage: "a bloomd's API `HOST:PORT`, any node; several, comma-separated, are tried in turn while one cannot be reached", EnvVars: []string{"BLOOM_ADDR"}},
		&ucli.StringFlag{Name: "secret-file", Usage: "the cluster secret `FILE`, to authenticate with a client certificate", EnvVars: []string{"BLOOM_SECRET_FILE"}},
		&ucli.StringFlag{Name: "token", Usage: "the cluster's API `TOKEN` (bloomd keygen --token --secret-file FILE), instead of --secret-file; on the command line it shows in ps: prefer BLOOM_TOKEN or --token-file", EnvVars: []string{"BLOOM_TOKEN"}},
		&ucli.StringFlag{Name: "token-file", Usage: "read the API token from `FILE` (mode 600)", EnvVars: []string{"BLOOM_TOKEN_FILE"}},
	}
}

// withGlobalFlags gives every command in cmds, and their subcommands, a
// fresh copy of each of flags() it does not define itself.
func withGlobalFlags(cmds []*ucli.Command, flags func() []ucli.Flag) {
	for _, cmd := range cmds {
		for _, f := range flags() {
			switch g := f.(type) {
			case *ucli.StringFlag:
				g.Category = "global (also before the command)"
			case *ucli.IntFlag:
				g.Category = "global (also before the command)"
			}
			if !slices.ContainsFunc(cmd.Flags, func(g ucli.Flag) bool { return g.Names()[0] == f.Names()[0] }) {
				cmd.Flags = append(cmd.Flags, f)
			}
		}
		withGlobalFlags(cmd.Subcommands, flags)
	}
}

// given is the context nearest the command at which a global option was
// given on the command line (under any of its names), else c, whose value
// is then the default or the environment's. urfave counts a flag its
// environment variable set as set at every level, so a level whose value
// is the environment's is passed over: the command line beats the
// environment wherever it is given (a value equal to the environment's is
// the same either way).
func given(c *ucli.Context, names ...string) *ucli.Context {
	env, fromEnv := "", false
	for _, f := range ctlGlobalFlags() {
		if e, ok := f.(interface{ GetEnvVars() []string }); ok && slices.Contains(names, f.Names()[0]) {
			for _, v := range e.GetEnvVars() {
				if val, ok := os.LookupEnv(v); ok {
					env, fromEnv = val, true
					break
				}
			}
		}
	}
	for _, x := range c.Lineage() {
		for _, n := range x.LocalFlagNames() {
			if slices.Contains(names, n) && !(fromEnv && x.String(n) == env) {
				return x
			}
		}
	}
	return c
}

// globalString is the value of the global option name (--output also
// under -o) as given nearest the command.
func globalString(c *ucli.Context, name string) string {
	names := []string{name}
	if name == "output" {
		names = append(names, "o")
	}
	return given(c, names...).String(name)
}

// globalInt is the value of the global option name as given nearest the
// command.
func globalInt(c *ucli.Context, name string) int { return given(c, name).Int(name) }

// outputJSON reports whether the user asked for --output json, and rejects
// formats that do not exist.
func outputJSON(c *ucli.Context) (bool, error) {
	switch f := globalString(c, "output"); f {
	case "json":
		return true, nil
	case "table", "":
		return false, nil
	default:
		also := "" // bloomd's commands have no csv
		if c.App != nil && c.App.Name == "bloomctl" {
			also = " (bloomctl metrics also csv)"
		}
		return false, fmt.Errorf("unknown --output %q: use table or json%s", f, also)
	}
}

// OutputFlag is --output (-o), table or json, for a command outside
// bloomctl's global options: version, and bloomd's devices.
func OutputFlag() ucli.Flag {
	return &ucli.StringFlag{Name: "output", Aliases: []string{"o"}, Value: "table", Usage: "output format: table or json"}
}

// WriteOutput prints v as --output asks, as bloomctl's listings do: one
// line of JSON with --output json, else table's; an unknown format is an
// error.
func WriteOutput(c *ucli.Context, v any, table func() error) error {
	asJSON, err := outputJSON(c)
	if err != nil {
		return err
	}
	if asJSON {
		return writeJSON(c.App.Writer, v)
	}
	return table()
}

// writeJSON writes v as one line of JSON, the --output json format.
func writeJSON(w io.Writer, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", b)
	return err
}

// parseTokens parses "5,17,42" (spaces allowed) into token ids.
func parseTokens(flag, s string) ([]int32, error) {
	var ids []int32
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		v, err := strconv.ParseInt(f, 10, 32)
		if err != nil {
			return nil, fmt.Errorf("--%s: %q is not a token id (want comma-separated integers such as 5,17,42)", flag, f)
		}
		ids = append(ids, int32(v))
	}
	if len(ids) == 0 {
		return nil, fmt.Errorf("--%s: no token ids given (want comma-separated integers such as 5,17,42)", flag)
	}
	return ids, nil
}
