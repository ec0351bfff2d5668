package cli

import (
	"fmt"
	"strings"

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
