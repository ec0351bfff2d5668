package bloomd

import (
	"fmt"

	ucli "github.com/urfave/cli/v2"

	"bloom/npu"
)

func devicesCommand() *ucli.Command {
	return &ucli.Command{
		Name:  "devices",
		Usage: "list the compute backends compiled into this binary",
		Action: func(c *ucli.Context) error {
			for _, name := range npu.Backends() {
				fmt.Fprintln(c.App.Writer, name)
			}
			return nil
		},
	}
}
