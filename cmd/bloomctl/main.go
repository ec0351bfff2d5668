// Command bloomctl is the user's tool for bloom clusters; see package cli.
package main

import (
	"fmt"
	"os"

	"bloom/cli"
)

func main() {
	if err := cli.CtlApp().Run(cli.SeedArgs(os.Args)); err != nil {
		fmt.Fprintln(os.Stderr, "bloomctl:", err)
		os.Exit(1)
	}
}
