package cli

import (
	"cmp"
	"fmt"
	"slices"

	ucli "github.com/urfave/cli/v2"

	"bloom/daemon/jobspec"
)

// specFlag is how one command shows a field of the jobspec table: extra
// names (a command's older names for it), and its own usage where the
// field means something narrower there.
type specFlag struct {
	aliases []string
	usage   string // "" = the field's
	envVars []string
	// defaultText is shown instead of the Spec's default, where the
	// command fills an unset field itself (train --local's run length).
	defaultText string
}

// specFlags are the flags of the jobspec table's fields, in the table's
// order: every field when only is nil, else those only names. The default
// shown is jobspec.Default's; a flag sets its field only when given
// (setSpec), so a flag not given keeps the Spec's default.
func specFlags(only map[string]specFlag) []ucli.Flag {
	var flags []ucli.Flag
	for _, f := range jobspec.Fields() {
		sf, ok := only[f.Name]
		if !ok && only != nil {
			continue
		}
		usage := f.Usage
		if sf.usage != "" {
			usage = sf.usage
		}
		aliases := append(append([]string(nil), f.Aliases...), sf.aliases...)
		if f.Bool {
			flags = append(flags, &ucli.BoolFlag{Name: f.Name, Aliases: aliases, Usage: usage, EnvVars: sf.envVars})
			continue
		}
		def := f.Default()
		if sf.defaultText != "" {
			def = sf.defaultText
		}
		flags = append(flags, &ucli.StringFlag{Name: f.Name, Aliases: aliases, Usage: usage, EnvVars: sf.envVars, DefaultText: def})
	}
	return flags
}

// setSpec sets each field of s whose flag was given (under any of its
// names) from its text, as a job file would; a DeepSpeed config first, so
// the flags beside it win. A flag of the seed's that changes nothing here
// prints its note.
func setSpec(c *ucli.Context, s *jobspec.Spec) error {
	fields := jobspec.Fields()
	slices.SortStableFunc(fields, func(a, b jobspec.Field) int {
		return cmp.Compare(b2i(a.Name != "deepspeed-config"), b2i(b.Name != "deepspeed-config"))
	})
	for _, f := range fields {
		if !c.IsSet(f.Name) {
			continue
		}
		v := c.String(f.Name)
		if f.Bool {
			v = fmt.Sprint(c.Bool(f.Name))
		}
		if err := s.Set(f.Name, v); err != nil {
			return err
		}
		if f.Note != "" {
			fmt.Fprintf(c.App.ErrWriter, "note: --%s: %s\n", f.Name, f.Note)
		}
	}
	return nil
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}
