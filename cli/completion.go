package cli

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	ucli "github.com/urfave/cli/v2"
)

// CompletionCommand is `completion bash|zsh|fish` of bloomctl and bloomd:
// a completion script generated from the running app's commands and flags.
func CompletionCommand(program string) *ucli.Command {
	return &ucli.Command{
		Name:      "completion",
		Args:      true,
		Usage:     "print a shell completion script for bash, zsh or fish",
		ArgsUsage: "bash|zsh|fish",
		Description: strings.ReplaceAll("The script is generated from this binary's commands and flags: regenerate it after an upgrade.\n"+
			"   bash: source <(PROG completion bash), or save it in /etc/bash_completion.d/PROG\n"+
			"   zsh:  PROG completion zsh > \"${fpath[1]}/_PROG\" (then compinit)\n"+
			"   fish: PROG completion fish > ~/.config/fish/completions/PROG.fish", "PROG", program),
		Action: func(c *ucli.Context) error {
			if c.NArg() > 1 {
				return fmt.Errorf("completion: give one shell, bash, zsh or fish, got %q", c.Args().Slice())
			}
			root := rootApp(c)
			switch shell := c.Args().First(); shell {
			case "bash":
				return writeBashCompletion(c.App.Writer, root)
			case "zsh":
				return writeZshCompletion(c.App.Writer, root)
			case "fish":
				s, err := root.ToFishCompletion()
				if err != nil {
					return fmt.Errorf("fish completion: %w", err)
				}
				_, err = io.WriteString(c.App.Writer, s)
				return err
			default:
				return fmt.Errorf("completion: want bash, zsh or fish, got %q", shell)
			}
		},
	}
}

// ManCommand is `man --out DIR` of bloomctl and bloomd: the binary's man
// page, section 1, generated from its commands and flags.
func ManCommand() *ucli.Command {
	return &ucli.Command{
		Name:  "man",
		Usage: "write this binary's man page (section 1) into a directory",
		Flags: []ucli.Flag{
			&ucli.StringFlag{Name: "out", Value: ".", Usage: "write NAME.1 into `DIR` (made if missing)"},
		},
		Action: func(c *ucli.Context) error {
			if c.NArg() > 1 {
				return fmt.Errorf("completion: give one shell, bash, zsh or fish, got %q", c.Args().Slice())
			}
			root := rootApp(c)
			page, err := root.ToManWithSection(1)
			if err != nil {
				return fmt.Errorf("man: %w", err)
			}
			if err := os.MkdirAll(c.String("out"), 0o755); err != nil {
				return fmt.Errorf("man: %w", err)
			}
			path := filepath.Join(c.String("out"), root.Name+".1")
			if err := os.WriteFile(path, []byte(page), 0o644); err != nil {
				return fmt.Errorf("man: %w", err)
			}
			fmt.Fprintln(c.App.ErrWriter, "wrote", path)
			return nil
		},
	}
}

// rootApp is the app c runs in (the binary's, not a command's).
func rootApp(c *ucli.Context) *ucli.App {
	app := c.App
	for _, x := range c.Lineage() {
		if x.App != nil {
			app = x.App
		}
	}
	return app
}

// compNode is what completes after one command path ("" for the app,
// "submit pretrain" for a subcommand): its subcommands with their usage,
// its flags, and those of its flags that take a value.
type compNode struct {
	path   string
	cmds   [][2]string // name, usage
	flags  []string
	values []string
}

// completionTree walks app's visible commands, depth first.
func completionTree(app *ucli.App) []compNode {
	var out []compNode
	var walk func(path string, cmds []*ucli.Command, flags []ucli.Flag, args string)
	walk = func(path string, cmds []*ucli.Command, flags []ucli.Flag, args string) {
		n := compNode{path: path}
		for _, f := range flags {
			_, isBool := f.(*ucli.BoolFlag)
			for _, name := range f.Names() {
				dash := "--"
				if len(name) == 1 {
					dash = "-"
				}
				n.flags = append(n.flags, dash+name)
				if !isBool {
					n.values = append(n.values, dash+name)
				}
			}
		}
		if !slices.Contains(n.flags, "--help") {
			n.flags = append(n.flags, "--help", "-h")
		}
		var subs []*ucli.Command
		for _, cmd := range cmds {
			if cmd.Hidden || cmd.Name == "help" && path != "" {
				continue
			}
			subs = append(subs, cmd)
			names := cmd.Names()
			if cmd.Name == "help" {
				names = names[:1]
			}
			for _, name := range names {
				n.cmds = append(n.cmds, [2]string{name, cmd.Usage})
			}
		}
		if len(subs) == 0 && strings.Contains(args, "|") && !strings.ContainsAny(args, " []") {
			for _, word := range strings.Split(args, "|") { // completion bash|zsh|fish
				n.cmds = append(n.cmds, [2]string{word, ""})
			}
		}
		out = append(out, n)
		for _, cmd := range subs {
			walk(strings.TrimSpace(path+" "+cmd.Name), cmd.Subcommands, cmd.VisibleFlags(), cmd.ArgsUsage)
		}
	}
	walk("", app.Commands, app.VisibleFlags(), "")
	return out
}

// shellQuote is s in single quotes for sh, bash and zsh.
func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// funcName is a shell function name for the app name.
func funcName(app string) string { return "_" + strings.NewReplacer("-", "_", ".", "_").Replace(app) }

// writeCase writes a shell function that, by command path ($1), runs open,
// the node's words quoted, then close: echoes them or sets an array.
func writeCase(w io.Writer, name, open, close string, nodes []compNode, words func(compNode) []string) {
	fmt.Fprintf(w, "%s() {\n\tcase \"$1\" in\n", name)
	for _, n := range nodes {
		ws := words(n)
		if len(ws) == 0 {
			continue
		}
		q := make([]string, len(ws))
		for i, x := range ws {
			q[i] = shellQuote(x)
		}
		fmt.Fprintf(w, "\t%s) %s%s%s ;;\n", shellQuote(n.path), open, strings.Join(q, " "), close)
	}
	fmt.Fprintf(w, "\tesac\n}\n\n")
}

func cmdNames(n compNode) []string {
	var out []string
	for _, c := range n.cmds {
		out = append(out, c[0])
	}
	return out
}

// writeBashCompletion writes a bash completion script for app: commands,
// then flags after a dash; a flag's value completes as a file name.
func writeBashCompletion(w io.Writer, app *ucli.App) error {
	fn, nodes := funcName(app.Name), completionTree(app)
	fmt.Fprintf(w, "# bash completion for %[1]s %[2]s, generated by `%[1]s completion bash`.\n"+
		"# Load it with: source <(%[1]s completion bash)\n\n", app.Name, Version)
	one := func(f func(compNode) []string) func(compNode) []string {
		return func(n compNode) []string {
			if ws := f(n); len(ws) > 0 {
				return []string{strings.Join(ws, " ")}
			}
			return nil
		}
	}
	writeCase(w, fn+"_commands", "echo ", "", nodes, one(cmdNames))
	writeCase(w, fn+"_flags", "echo ", "", nodes, one(func(n compNode) []string { return n.flags }))
	writeCase(w, fn+"_values", "echo ", "", nodes, one(func(n compNode) []string { return n.values }))
	_, err := fmt.Fprintf(w, `%[1]s() {
	local cur prev word cmd="" i
	cur="${COMP_WORDS[COMP_CWORD]}"
	prev="${COMP_WORDS[COMP_CWORD-1]}"
	for ((i = 1; i < COMP_CWORD; i++)); do
		word="${COMP_WORDS[i]}"
		case " $(%[1]s_values "$cmd") " in
		*" ${COMP_WORDS[i-1]} "*) continue ;; # a flag's value
		esac
		case " $(%[1]s_commands "$cmd") " in
		*" $word "*) cmd="${cmd:+$cmd }$word" ;;
		esac
	done
	if [[ "$cur" == -* ]]; then
		COMPREPLY=($(compgen -W "$(%[1]s_flags "$cmd")" -- "$cur"))
	elif [[ " $(%[1]s_values "$cmd") " == *" $prev "* ]]; then
		COMPREPLY=()
	else
		COMPREPLY=($(compgen -W "$(%[1]s_commands "$cmd")" -- "$cur"))
	fi
}

complete -o default -F %[1]s %[2]s
`, fn, app.Name)
	return err
}

// writeZshCompletion writes a zsh completion script for app: commands with
// their usage, then flags after a dash; a flag's value completes as a file.
func writeZshCompletion(w io.Writer, app *ucli.App) error {
	fn, nodes := funcName(app.Name), completionTree(app)
	fmt.Fprintf(w, "#compdef %[1]s\n# zsh completion for %[1]s %[2]s, generated by `%[1]s completion zsh`.\n"+
		"# Install: %[1]s completion zsh > \"${fpath[1]}/_%[1]s\", then compinit; or: source <(%[1]s completion zsh)\n\n", app.Name, Version)
	writeCase(w, fn+"_commands", "reply=(", ")", nodes, func(n compNode) []string {
		var out []string
		for _, c := range n.cmds {
			usage := c[1]
			if r := []rune(usage); len(r) > 70 {
				usage = string(r[:69]) + "…"
			}
			if usage == "" {
				usage = c[0]
			}
			out = append(out, c[0]+":"+strings.ReplaceAll(usage, ":", `\:`))
		}
		return out
	})
	writeCase(w, fn+"_flags", "reply=(", ")", nodes, func(n compNode) []string { return n.flags })
	writeCase(w, fn+"_values", "reply=(", ")", nodes, func(n compNode) []string { return n.values })
	_, err := fmt.Fprintf(w, `%[1]s() {
	local cmd='' word i
	local -a reply names
	for ((i = 2; i < CURRENT; i++)); do
		word=${words[i]}
		reply=(); %[1]s_values "$cmd"
		(( i > 2 && ${reply[(Ie)${words[i-1]}]} )) && continue
		reply=(); %[1]s_commands "$cmd"
		names=(${reply%%%%:*})
		(( ${names[(Ie)$word]} )) && cmd=${cmd:+$cmd }$word
	done
	reply=()
	if [[ ${words[CURRENT]} == -* ]]; then
		%[1]s_flags "$cmd"
		compadd -- $reply
		return
	fi
	%[1]s_values "$cmd"
	if (( ${reply[(Ie)${words[CURRENT-1]}]} )); then
		_files
		return
	fi
	reply=(); %[1]s_commands "$cmd"
	if (( ${#reply} )); then
		_describe -t commands command reply
	else
		_files
	fi
}

if [[ ${zsh_eval_context[-1]} == loadautofunc ]]; then
	%[1]s "$@"
else
	compdef %[1]s %[2]s
fi
`, fn, app.Name)
	return err
}
