package cli

import (
	"context"
	"fmt"
	"text/tabwriter"
	"time"

	ucli "github.com/urfave/cli/v2"
)

func checkpointsCommand() *ucli.Command {
	return &ucli.Command{
		Name:      "checkpoints",
		Usage:     "list a job's committed checkpoints: step, directory, manifest checksum",
		UsageText: "bloomctl checkpoints ID",
		Action: func(c *ucli.Context) error {
			id, err := jobArg(c)
			if err != nil {
				return err
			}
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
			list, err := cl.Checkpoints(ctx, id)
			if err != nil {
				return err
			}
			if asJSON {
				return writeJSON(c.App.Writer, list)
			}
			if len(list.Checkpoints) == 0 {
				fmt.Fprintf(c.App.Writer, "job %s has no committed checkpoint\n", list.Job)
				return nil
			}
			tw := tabwriter.NewWriter(c.App.Writer, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "STEP\tCOMMITTED\tMANIFEST\tDIR")
			for _, k := range list.Checkpoints {
				fmt.Fprintf(tw, "%d\t%s\t%.12s\t%s\n", k.Step, time.UnixMilli(k.CommittedAt).Format(time.DateTime), k.Manifest, k.Dir)
			}
			return tw.Flush()
		},
	}
}
