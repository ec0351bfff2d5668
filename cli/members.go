package cli

import (
	"context"
	"fmt"
	"text/tabwriter"
	"time"

	ucli "github.com/urfave/cli/v2"
)

func membersCommand() *ucli.Command {
	return &ucli.Command{
		Name:  "members",
		Usage: "list the cluster's nodes: address, state (alive/suspect/dead/left), Raft role, devices, version",
		Action: func(c *ucli.Context) error {
			asJSON, err := outputJSON(c)
			if err != nil {
				return err
			}
			cl, err := ctlClient(c)
			if err != nil {
				return err
			}
			defer cl.Close()
			ctx, cancel := context.WithTimeout(c.Context, 30*time.Second)
			defer cancel()
			ms, err := cl.Members(ctx)
			if err != nil {
				return err
			}
			if asJSON {
				return writeJSON(c.App.Writer, ms)
			}
			tw := tabwriter.NewWriter(c.App.Writer, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tADDRESS\tSTATE\tROLE\tDEVICES\tVERSION")
			for _, m := range ms.Members {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", m.Name, m.Addr, m.State, m.Role, m.Devices, m.Version)
			}
			return tw.Flush()
		},
	}
}
