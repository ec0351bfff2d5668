// Command bloomd is the bloom node daemon; see package cli/bloomd.
package main

import (
	"fmt"
	"os"

	"bloom/cli/bloomd"
)

func main() {
	if err := bloomd.App().Run(os.Args); err != nil {
		fmt.Fprintln(os.Stderr, "bloomd:", err)
		os.Exit(1)
	}
}
