package main

import (
	"fmt"
	"sort"
	"strings"

	ucli "github.com/urfave/cli/v2"

	"bloom/cli"
	"bloom/cli/bloomd"
)

// envFlag is one environment variable: the flag it sets and where.
type envFlag struct {
	name, flag, usage string
	commands          []string
}

// environmentMarkdown is docs/environment.md: every BLOOM_* and BLOOMD_*
// variable the two binaries read, from their flags.
func environmentMarkdown() string {
	var b strings.Builder
	b.WriteString(generated)
	b.WriteString(`# Environment variables

Every flag of ` + "`bloomd join`" + ` and ` + "`bloomd keygen`" + ` can be set from a ` + "`BLOOMD_*`" + ` variable,
and ` + "`bloomctl`" + `'s global options and the flags listed below from a ` + "`BLOOM_*`" + ` one: the
flag's name in capitals with ` + "`_`" + ` for ` + "`-`" + `. A flag on the command line wins over the
variable. The job spec's flags (docs/jobspec.md) have none: put them in a job file. Use them for what should not show in
` + "`ps`" + ` (` + "`BLOOM_TOKEN`" + `), for a node's settings in a systemd drop-in or a container
(` + "`packaging/`" + `), and for a shell's defaults (` + "`BLOOM_ADDR`" + `, ` + "`BLOOM_SECRET_FILE`" + `).

Besides the flags, ` + "`bloomctl rollout --command`" + ` runs its command with ` + "`BLOOM_NODE`" + ` and
` + "`BLOOM_NODE_API`" + ` set to the node being restarted, and the Ascend backend reads CANN's
` + "`ASCEND_HOME_PATH`" + `, ` + "`ASCEND_TOOLKIT_HOME`" + ` and ` + "`LD_LIBRARY_PATH`" + ` (see the README).
` + "`BLOOM_MAX_CPU_ISA`" + ` (` + "`avx2`" + ` or ` + "`none`" + `) caps the instruction sets the CPU device's kernels use,
as oneDNN's ` + "`ONEDNN_MAX_CPU_ISA`" + ` does: the AVX2 (or portable Go) kernels run on a CPU with
AVX-512, to compare or to rule a kernel out; any other value than ` + "`avx512`" + ` is refused at start.

`)
	for _, app := range []*ucli.App{bloomd.App(), cli.CtlApp()} {
		vars := collect(app)
		fmt.Fprintf(&b, "## %s (%d variables)\n\n| variable | flag | commands | meaning |\n|---|---|---|---|\n", app.Name, len(vars))
		for _, v := range vars {
			fmt.Fprintf(&b, "| `%s` | `--%s` | %s | %s |\n", v.name, v.flag, cell(strings.Join(v.commands, ", ")), cell(v.usage))
		}
		b.WriteString("\n")
	}
	return b.String()
}

// collect lists app's environment variables, sorted, each with the
// commands whose flag reads it (the first usage found describes it).
func collect(app *ucli.App) []envFlag {
	byName := map[string]*envFlag{}
	var walk func(path string, flags []ucli.Flag, cmds []*ucli.Command)
	walk = func(path string, flags []ucli.Flag, cmds []*ucli.Command) {
		for _, f := range flags {
			e, ok := f.(interface{ GetEnvVars() []string })
			if !ok {
				continue
			}
			for _, v := range e.GetEnvVars() {
				ev := byName[v]
				if ev == nil {
					usage := ""
					if u, ok := f.(interface{ GetUsage() string }); ok {
						usage = strings.ReplaceAll(u.GetUsage(), "`", "")
					}
					ev = &envFlag{name: v, flag: f.Names()[0], usage: usage}
					byName[v] = ev
				}
				if !contains(ev.commands, path) {
					ev.commands = append(ev.commands, path)
				}
			}
		}
		for _, c := range cmds {
			if !c.Hidden {
				walk(strings.TrimSpace(path+" "+c.Name), c.Flags, c.Subcommands)
			}
		}
	}
	walk("", app.Flags, app.Commands)
	var out []envFlag
	for _, v := range byName {
		if len(v.commands) > 6 {
			v.commands = []string{fmt.Sprintf("%d commands", len(v.commands))}
		} else if len(v.commands) == 1 && v.commands[0] == "" {
			v.commands = []string{"(global)"}
		}
		for i, c := range v.commands {
			if c == "" {
				v.commands[i] = "(global)"
			}
		}
		out = append(out, *v)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}
