package cli

import (
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	ucli "github.com/urfave/cli/v2"

	"bloom/internal/cpuid"
	"bloom/internal/suggest"
)

// OneLineUsageErrors makes a bad flag or argument of app, and of each of
// its commands, one line naming the flag and the nearest known one,
// instead of the whole help; and a bad BLOOM_MAX_CPU_ISA one line, exit 2.
func OneLineUsageErrors(app *ucli.App) *ucli.App {
	app.OnUsageError = func(c *ucli.Context, err error, _ bool) error { return usageError(app.Name, app.Flags, err) }
	// Every program also refuses a BLOOM_MAX_CPU_ISA it does not know: its
	// kernels would run on instruction sets nobody asked for.
	before := app.Before
	app.Before = func(c *ucli.Context) error {
		if cpuid.CapErr != nil {
			return ucli.Exit(app.Name+": "+cpuid.CapErr.Error(), 2)
		}
		if before != nil {
			return before(c)
		}
		return nil
	}
	if app.Action == nil {
		app.Action = func(c *ucli.Context) error {
			if c.Args().Present() {
				return unknownCommand(app.Name, app.Commands, c.Args().First())
			}
			return ucli.ShowAppHelp(c)
		}
	}
	var walk func(prefix string, cmds []*ucli.Command)
	walk = func(prefix string, cmds []*ucli.Command) {
		for _, cmd := range cmds {
			name, flags := prefix+" "+cmd.Name, cmd.Flags
			cmd.OnUsageError = func(c *ucli.Context, err error, _ bool) error { return usageError(name, flags, err) }
			checkArgsAndRequired(name, cmd)
			if subs := cmd.Subcommands; len(subs) > 0 && cmd.Action == nil {
				cmd.Action = func(c *ucli.Context) error {
					if c.Args().Present() {
						return unknownCommand(name, subs, c.Args().First())
					}
					return ucli.ShowSubcommandHelp(c)
				}
			}
			walk(name, cmd.Subcommands)
		}
	}
	walk(app.Name, app.Commands)
	return app
}

// usageError is err, a flag parser's complaint, as one line: an unknown
// flag with a did-you-mean among flags, a bad value with what the flag
// wants, a missing value.
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
			hint = fmt.Sprintf(" (did you mean %s?)", dashed(near))
		}
		return ucli.Exit(fmt.Sprintf("%s: unknown flag %s%s", cmd, dashed(bad), hint), 2)
	}
	if name, ok := strings.CutPrefix(msg, "flag needs an argument: "); ok {
		return ucli.Exit(fmt.Sprintf("%s: %s needs a value (%s --help)", cmd, dashed(strings.TrimLeft(name, "-")), cmd), 2)
	}
	// The flag package's `invalid value "abc" for flag -threads: parse error`
	// (urfave/cli's own flag types: `invalid value "abc" for flag -threads:
	// strconv.ParseInt: ...`): name the flag as users type it, and what it wants.
	var val, name string
	_, err1 := fmt.Sscanf(msg, "invalid value %q for flag %s", &val, &name)
	_, err2 := fmt.Sscanf(msg, "invalid boolean value %q for %s", &val, &name)
	if err1 == nil || err2 == nil {
		name = strings.TrimSuffix(strings.TrimLeft(name, "-"), ":")
		want := ""
		for _, f := range flags {
			if slices.Contains(f.Names(), name) {
				want = wants(f)
			}
		}
		return ucli.Exit(fmt.Sprintf("%s: %s: %q is not %s (%s --help)", cmd, dashed(name), val, want, cmd), 2)
	}
	return ucli.Exit(fmt.Sprintf("%s: %s (%s --help)", cmd, msg, cmd), 2)
}

// dashed is a flag's name as users type it: -o, --output.
func dashed(name string) string {
	if utf8.RuneCountInString(name) == 1 {
		return "-" + name
	}
	return "--" + name
}

// wants says what a value of f looks like, for an error about a bad one.
func wants(f ucli.Flag) string {
	switch f.(type) {
	case *ucli.IntFlag, *ucli.Int64Flag, *ucli.IntSliceFlag, *ucli.Int64SliceFlag:
		return "an integer"
	case *ucli.UintFlag, *ucli.Uint64Flag, *ucli.UintSliceFlag, *ucli.Uint64SliceFlag:
		return "a non-negative integer"
	case *ucli.Float64Flag, *ucli.Float64SliceFlag:
		return "a number"
	case *ucli.DurationFlag:
		return "a duration such as 30s, 5m or 1h30m"
	case *ucli.BoolFlag:
		return "true or false"
	case *ucli.TimestampFlag:
		return "a timestamp"
	}
	return "a valid value"
}

// checkArgsAndRequired makes cmd (full name name) refuse, as one-line
// usage errors with exit status 2 and before it runs, what urfave/cli
// would otherwise let through or answer with the whole help: positional
// arguments to a command without subcommands that does not declare Args
// (`bloomctl jobs extra` would list the jobs, the word ignored), and a
// Required flag left out (urfave prints the help, then `Required flag "out"
// not set`, exit 1). The flags stay required in effect; urfave no longer
// checks them itself.
func checkArgsAndRequired(name string, cmd *ucli.Command) {
	var required []string
	for _, f := range cmd.Flags {
		if r, ok := f.(ucli.RequiredFlag); ok && r.IsRequired() {
			required = append(required, f.Names()[0])
			if v := reflect.ValueOf(f); v.Kind() == reflect.Pointer {
				if field := v.Elem().FieldByName("Required"); field.CanSet() && field.Kind() == reflect.Bool {
					field.SetBool(false)
				}
			}
		}
	}
	refuseArgs := !cmd.Args && len(cmd.Subcommands) == 0 && !cmd.SkipFlagParsing && cmd.Action != nil
	if len(required) == 0 && !refuseArgs {
		return
	}
	before := cmd.Before
	cmd.Before = func(c *ucli.Context) error {
		if refuseArgs && c.Args().Present() {
			return ucli.Exit(fmt.Sprintf("%s: unexpected arguments %q: it takes none, every setting is a --flag (quote a value with spaces; %s --help)", name, c.Args().Slice(), name), 2)
		}
		var missing []string
		for _, r := range required {
			if !c.IsSet(r) {
				missing = append(missing, dashed(r))
			}
		}
		switch len(missing) {
		case 0:
		case 1:
			return ucli.Exit(fmt.Sprintf("%s: %s is required (%s --help)", name, missing[0], name), 2)
		default:
			return ucli.Exit(fmt.Sprintf("%s: %s are required (%s --help)", name, strings.Join(missing, ", "), name), 2)
		}
		if before != nil {
			return before(c)
		}
		return nil
	}
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

// unknownCommand is the one-line answer to a command name app does not
// have, with the nearest one.
func unknownCommand(prefix string, cmds []*ucli.Command, name string) error {
	var names []string
	for _, c := range cmds {
		if !c.Hidden {
			names = append(names, c.Names()...)
		}
	}
	hint := fmt.Sprintf(" (%s --help lists them)", prefix)
	if near := suggest.Nearest(name, names); near != "" {
		hint = fmt.Sprintf(" (did you mean %q?)", near)
	}
	return ucli.Exit(fmt.Sprintf("%s: unknown command %q%s", prefix, name, hint), 2)
}

// Intersperse moves the flags given after a command's arguments before
// them, where urfave/cli reads them (it stops at the first argument):
// `bloomctl submit job.yaml -o json` works as users type it. "--" still
// ends the flags.
func Intersperse(app *ucli.App, args []string) []string {
	if len(args) < 2 {
		return args
	}
	out := []string{args[0]}
	flags, cmds := app.Flags, app.Commands
	i := 1
	take := func(dst []string) []string { // the flag at i and its value
		n := 1 + flagValues(flags, args[i])
		end := min(i+n, len(args))
		dst = append(dst, args[i:end]...)
		i = end
		return dst
	}
	for i < len(args) { // global flags and the command path
		a := args[i]
		if a == "--" {
			return append(out, args[i:]...)
		}
		if isFlag(a) {
			out = take(out)
			continue
		}
		var cmd *ucli.Command
		for _, c := range cmds {
			if slices.Contains(c.Names(), a) {
				cmd = c
			}
		}
		if cmd == nil {
			break
		}
		out, i = append(out, a), i+1
		if cmd.SkipFlagParsing {
			return append(out, args[i:]...)
		}
		flags, cmds = cmd.Flags, cmd.Subcommands
		if len(cmds) == 0 {
			break
		}
	}
	var fl, pos []string
	for i < len(args) {
		a := args[i]
		switch {
		case a == "--":
			pos = append(pos, args[i:]...)
			i = len(args)
		case isFlag(a):
			fl = take(fl)
		default:
			pos, i = append(pos, a), i+1
		}
	}
	return append(append(out, fl...), pos...)
}

func isFlag(a string) bool {
	return len(a) > 1 && a[0] == '-' && (a[1] == '-' || unicode.IsLetter(rune(a[1])))
}

// flagValues is how many arguments after flag arg are its value: none for
// a boolean, a flag given with "=", or one this command does not know.
func flagValues(flags []ucli.Flag, arg string) int {
	name := strings.TrimLeft(arg, "-")
	if strings.Contains(name, "=") {
		return 0
	}
	for _, f := range flags {
		if !slices.Contains(f.Names(), name) {
			continue
		}
		if _, ok := f.(*ucli.BoolFlag); ok {
			return 0
		}
		return 1
	}
	return 0
}
