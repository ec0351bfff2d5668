package cli

import (
	"context"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	ucli "github.com/urfave/cli/v2"

	"bloom/api"
)

func checkpointsCommand() *ucli.Command {
	return &ucli.Command{
		Name:  "checkpoints",
		Args:  true,
		Usage: "list a job's committed checkpoints: step, directory, manifest checksum, and the nodes holding each shard",
		Description: `Lists the checkpoints the job committed, oldest first, and the nodes that hold
a verified copy of each shard; fetch copies one (the latest, or --step) into a
local directory from whichever nodes hold it. --output json prints GET
/v1/jobs/ID/checkpoints's answer on one line.`,
		UsageText: "bloomctl checkpoints ID [--output table|json]\n   bloomctl checkpoints fetch ID [--step N] --out DIR\n" +
			"   bloomctl checkpoints ID -o json | jq '.checkpoints[-1].step'",
		Subcommands: []*ucli.Command{checkpointsFetchCommand()},
		Action: func(c *ucli.Context) error {
			id, err := jobArg(c)
			if err != nil {
				return err
			}
			get := func(cl *api.Client, ctx context.Context) (*api.CheckpointList, error) { return cl.Checkpoints(ctx, id) }
			return query(c, get, func(list *api.CheckpointList) error { return writeCheckpoints(c, list) })
		},
	}
}

// writeCheckpoints prints a job's committed checkpoints as a table, or
// says it has none.
func writeCheckpoints(c *ucli.Context, list *api.CheckpointList) error {
	if len(list.Checkpoints) == 0 {
		fmt.Fprintf(c.App.Writer, "job %s has no committed checkpoint\n", list.Job)
		return nil
	}
	tw := tabwriter.NewWriter(c.App.Writer, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "STEP\tCOMMITTED\tMANIFEST\tDIR\tSHARDS (NODES HOLDING A COPY)")
	for _, k := range list.Checkpoints {
		fmt.Fprintf(tw, "%d\t%s\t%.12s\t%s\t%s\n", k.Step, time.UnixMilli(k.CommittedAt).Format(time.DateTime), k.Manifest, k.Dir, shardPlaces(k.Files))
	}
	return tw.Flush()
}

// shardPlaces is "mp_rank_00_000.safetensors@n1,n2 ..." ("-" when the
// checkpoint was committed without locations).
func shardPlaces(files []api.CheckpointFile) string {
	if len(files) == 0 {
		return "-"
	}
	var out []string
	for _, f := range files {
		out = append(out, f.Name+"@"+strings.Join(f.Nodes, ","))
	}
	return strings.Join(out, " ")
}
