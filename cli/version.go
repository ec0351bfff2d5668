package cli

import (
	"fmt"
	"io"
	"runtime"
	"text/tabwriter"

	ucli "github.com/urfave/cli/v2"
)

// BuildInfo is what `version` prints: the build's version (from git, by
// the Makefile's -ldflags), the Go toolchain and the platform.
type BuildInfo struct {
	Name    string `json:"name"`
	Version string `json:"version"`
	Go      string `json:"go"`
	OS      string `json:"os"`
	Arch    string `json:"arch"`
}

// Build is this binary's BuildInfo under name.
func Build(name string) BuildInfo {
	return BuildInfo{Name: name, Version: Version, Go: runtime.Version(), OS: runtime.GOOS, Arch: runtime.GOARCH}
}

func init() {
	// --version prints what `version` prints, in both binaries.
	ucli.VersionPrinter = func(c *ucli.Context) { writeVersion(c.App.Writer, Build(c.App.Name), false) }
}

// VersionCommand is `version` of bloomctl and bloomd.
func VersionCommand() *ucli.Command {
	return &ucli.Command{
		Name:  "version",
		Usage: "print the version (from git at build time), the Go version and the platform",
		Flags: []ucli.Flag{
			&ucli.StringFlag{Name: "output", Aliases: []string{"o"}, Value: "table", Usage: "output format: table or json"},
		},
		Action: func(c *ucli.Context) error {
			asJSON, err := outputJSON(c)
			if err != nil {
				return err
			}
			return writeVersion(c.App.Writer, Build(c.App.Name), asJSON)
		},
	}
}

// writeVersion prints b as a table of two columns, or as one JSON object.
func writeVersion(w io.Writer, b BuildInfo, asJSON bool) error {
	if asJSON {
		return writeJSON(w, b)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 1, ' ', 0)
	fmt.Fprintf(tw, "%s\t%s\n", b.Name, b.Version)
	fmt.Fprintf(tw, "go\t%s\n", b.Go)
	fmt.Fprintf(tw, "platform\t%s/%s\n", b.OS, b.Arch)
	return tw.Flush()
}
