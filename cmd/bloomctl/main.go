// Command bloomctl is the user's tool for bloom clusters; see package cli.
package main

import (
	"fmt"
	"os"

	"bloom/cli"
)

func main() {
	app := cli.CtlApp()
	if err := app.Run(cli.Intersperse(app, cli.SeedArgs(os.Args))); err != nil {
		fmt.Fprintln(os.Stderr, "bloomctl:", err)
		os.Exit(1)
	}
}
