package cli

import (
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	ucli "github.com/urfave/cli/v2"

	"bloom/internal/suggest"
)

// OneLineUsageErrors makes a bad flag or argument of app, and of each of
// its commands, one line naming the flag and the nearest known one,
// instead of the whole help.
func OneLineUsageErrors(app *ucli.App) *ucli.App {
	app.OnUsageError = func(c *ucli.Context, err error, _ bool) error { return usageError(app.Name, app.Flags, err) }
	var walk func(prefix string, cmds []*ucli.Command)
	walk = func(prefix string, cmds []*ucli.Command) {
		for _, cmd := range cmds {
			name, flags := prefix+" "+cmd.Name, cmd.Flags
			cmd.OnUsageError = func(c *ucli.Context, err error, _ bool) error { return usageError(name, flags, err) }
			walk(name, cmd.Subcommands)
		}
	}
	walk(app.Name, app.Commands)
	return app
}

// usageError is err, a flag parser's complaint, as one line: an unknown
// flag with a did-you-mean among flags.
func usageError(cmd string, flags []ucli.Flag, err error) error {
	msg := err.Error()
	if bad, ok := strings.CutPrefix(msg, "flag provided but not defined: "); ok {
		bad = strings.TrimLeft(bad, "-")
		var names []string
		for _, f := range flags {
			names = append(names, f.Names()...)
		}
		hint := fmt.Sprintf(" (%s --help lists them)", cmd)
		if near := suggest.Nearest(bad, names); near != "" {
			hint = fmt.Sprintf(" (did you mean --%s?)", near)
		}
		return ucli.Exit(fmt.Sprintf("%s: unknown flag --%s%s", cmd, bad, hint), 2)
	}
	return ucli.Exit(fmt.Sprintf("%s: %s (%s --help)", cmd, msg, cmd), 2)
}

// printable is s for a terminal: control characters (escape sequences a
// job's name could carry) written as Go escapes.
func printable(s string) string {
	if !strings.ContainsFunc(s, func(r rune) bool { return unicode.IsControl(r) || r == utf8.RuneError }) {
		return s
	}
	q := strconv.Quote(s)
	return q[1 : len(q)-1]
}

// multiValueFlags are the seed's flags that take several values separated
// by spaces (Megatron's nargs): --rampup-batch-size START INCREMENT SAMPLES.
var multiValueFlags = map[string]int{"rampup-batch-size": 3}

// SeedArgs rewrites the seed's space-separated multi-value flags into one
// comma-separated value ("--rampup-batch-size 192 16 9_765_625" →
// "--rampup-batch-size=192,16,9_765_625"), so its scripts' command lines
// parse as they are.
func SeedArgs(args []string) []string {
	out := make([]string, 0, len(args))
	for i := 0; i < len(args); i++ {
		name := strings.TrimLeft(args[i], "-")
		n, ok := multiValueFlags[name]
		if !ok || !strings.HasPrefix(args[i], "-") || i+n >= len(args) {
			out = append(out, args[i])
			continue
		}
		vals := args[i+1 : i+1+n]
		numeric := true
		for _, v := range vals {
			numeric = numeric && v != "" && strings.Trim(v, "0123456789_") == ""
		}
		if !numeric {
			out = append(out, args[i])
			continue
		}
		out = append(out, "--"+name+"="+strings.Join(vals, ","))
		i += n
	}
	return out
}
