// Command bloomd is the bloom node daemon; see package cli.
package main

import (
	"fmt"
	"os"

	"bloom/cli"
)

func main() {
	if err := cli.DaemonApp().Run(os.Args); err != nil {
		fmt.Fprintln(os.Stderr, "bloomd:", err)
		os.Exit(1)
	}
}
