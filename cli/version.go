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
	ucli.VersionPrinter = func(c *ucli.Context) { writeVersion(c.App.Writer, Build(c.App.Name)) }
}

// VersionCommand is `version` of bloomctl and bloomd.
func VersionCommand() *ucli.Command {
	return &ucli.Command{
		Name:  "version",
		Usage: "print the version (from git at build time), the Go version and the platform",
		Flags: []ucli.Flag{OutputFlag()},
		Action: func(c *ucli.Context) error {
			b := Build(c.App.Name)
			return WriteOutput(c, b, func() error { return writeVersion(c.App.Writer, b) })
		},
	}
}

// writeVersion prints b as a table of two columns.
func writeVersion(w io.Writer, b BuildInfo) error {
	tw := tabwriter.NewWriter(w, 0, 4, 1, ' ', 0)
	fmt.Fprintf(tw, "%s\t%s\n", b.Name, b.Version)
	fmt.Fprintf(tw, "go\t%s\n", b.Go)
	fmt.Fprintf(tw, "platform\t%s/%s\n", b.OS, b.Arch)
	return tw.Flush()
}
