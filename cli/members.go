package cli

import (
	"cmp"
	"fmt"
	"text/tabwriter"

	ucli "github.com/urfave/cli/v2"

	"bloom/api"
)

func membersCommand() *ucli.Command {
	return &ucli.Command{
		Name:  "members",
		Usage: "list the cluster's nodes: address, state (alive/suspect/dead/left), Raft role, devices and how many of them last probed healthy, version",
		UsageText: "bloomctl members [--addr HOST:PORT] [--output table|json]\n" +
			"   bloomctl members --addr 10.0.0.2:7950\n" +
			"   bloomctl members -o json | jq -r '.members[] | select(.state != \"alive\") | .name'",
		Description: `Lists the nodes gossip knows, as the answering node sees them. --output json
prints GET /v1/members's answer on one line. Exits 1 with the reason on stderr
when no node can be reached.`,
		Action: func(c *ucli.Context) error {
			return query(c, (*api.Client).Members, func(ms *api.MembersResponse) error {
				tw := tabwriter.NewWriter(c.App.Writer, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "NAME\tADDRESS\tSTATE\tROLE\tDEVICES\tHEALTHY\tVERSION")
				for _, m := range ms.Members {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", m.Name, m.Addr, m.State, m.Role, m.Devices, cmp.Or(m.DevicesHealthy, "-"), m.Version)
				}
				if err := tw.Flush(); err != nil {
					return err
				}
				for _, m := range ms.Members {
					if m.RaftError != "" {
						fmt.Fprintf(c.App.Writer, "%s: its Raft log refuses appends %s\n", m.Name, m.RaftError)
					}
				}
				return nil
			})
		},
	}
}
