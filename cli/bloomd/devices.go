package bloomd

import (
	"fmt"
	"strings"

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

// resolveDevices turns npu:all in a --devices list into the NPUs count
// reports (npu:0-N-1); the rest is left for the daemon to check.
func resolveDevices(s string, count func() (int, error)) (string, error) {
	groups := strings.Split(s, ";")
	for i, g := range groups {
		if strings.TrimSpace(g) != "npu:all" {
			continue
		}
		n, err := count()
		if err != nil {
			return "", fmt.Errorf("--devices npu:all: counting the NPUs: %w", err)
		}
		if n < 1 {
			return "", fmt.Errorf("--devices npu:all: the ACL runtime sees no NPU")
		}
		groups[i] = fmt.Sprintf("npu:0-%d", n-1)
	}
	return strings.Join(groups, ";"), nil
}
