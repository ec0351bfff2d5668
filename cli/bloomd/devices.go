package bloomd

import (
	"fmt"
	"strings"

	ucli "github.com/urfave/cli/v2"

	"bloom/cli"
	"bloom/npu"
)

// DeviceList is what `bloomd devices --output json` prints, on one line:
// the backends sorted by name, {"backends":[{"name":"acl"},{"name":"cpu"}]}.
// Fields may be added to it; none is renamed or removed.
type DeviceList struct {
	Backends []Backend `json:"backends"`
}

// Backend is one compute backend of DeviceList.
type Backend struct {
	// Name is the backend's name: cpu (--devices cpu:N), acl (Ascend NPUs,
	// --devices npu:...).
	Name string `json:"name"`
}

func devicesCommand() *ucli.Command {
	return &ucli.Command{
		Name:  "devices",
		Usage: "list the compute backends compiled into this binary",
		UsageText: "bloomd devices [--output table|json]\n" +
			"   bloomd devices -o json | jq -r '.backends[].name'",
		Description: `Lists the backends this binary can open devices with, one name a line: cpu
(--devices cpu:N) and acl (Ascend NPUs, --devices npu:0-7; a binary built without
make build-acl lists it too and refuses to open it). --output json prints
{"backends":[{"name":"acl"},{"name":"cpu"}]} on one line.`,
		Flags: []ucli.Flag{cli.OutputFlag()},
		Action: func(c *ucli.Context) error {
			names := npu.Backends()
			list := DeviceList{Backends: make([]Backend, 0, len(names))}
			for _, name := range names {
				list.Backends = append(list.Backends, Backend{Name: name})
			}
			return cli.WriteOutput(c, list, func() error {
				for _, b := range list.Backends {
					fmt.Fprintln(c.App.Writer, b.Name)
				}
				return nil
			})
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
