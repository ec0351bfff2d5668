package cli

import (
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"strconv"
	"text/tabwriter"
	"time"

	ucli "github.com/urfave/cli/v2"

	"bloom/api"
)

func metricsCommand() *ucli.Command {
	return &ucli.Command{
		Name:  "metrics",
		Args:  true,
		Usage: "a job's steps as the cluster keeps them (in Raft: they outlive leaders, nodes and rollouts): loss, learning rate, grad norm, loss scale, throughput",
		UsageText: "bloomctl metrics ID [--output table|json|csv] [--last N]\n" +
			"   every attempt's steps in order; a long run's older half is thinned to every other step",
		Flags: []ucli.Flag{&ucli.IntFlag{Name: "last", Usage: "only the last N steps (0: all)"}},
		Action: func(c *ucli.Context) error {
			id, err := jobArg(c)
			if err != nil {
				return err
			}
			get := func(cl *api.Client, ctx context.Context) (*api.JobHistory, error) {
				h, err := cl.History(ctx, id)
				if err == nil && c.Int("last") > 0 && len(h.Points) > c.Int("last") {
					h.Points = h.Points[len(h.Points)-c.Int("last"):]
				}
				return h, err
			}
			if globalString(c, "output") == "csv" {
				h, err := fetchHistory(c, id)
				if err != nil {
					return err
				}
				if n := c.Int("last"); n > 0 && len(h.Points) > n {
					h.Points = h.Points[len(h.Points)-n:]
				}
				return writeHistoryCSV(c.App.Writer, h)
			}
			return query(c, get, func(h *api.JobHistory) error { return writeHistory(c.App.Writer, h) })
		},
	}
}

// fetchHistory asks the cluster for job id's history.
func fetchHistory(c *ucli.Context, id string) (*api.JobHistory, error) {
	cl, err := ctlClient(c)
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(c.Context, queryTimeout)
	defer cancel()
	return cl.History(ctx, id)
}

// historyColumns are the figures of a step, in the table's and the CSV's
// order.
var historyColumns = []struct {
	name string
	v    func(p api.HistoryPoint) string
}{
	{"attempt", func(p api.HistoryPoint) string { return strconv.Itoa(p.Attempt) }},
	{"step", func(p api.HistoryPoint) string { return strconv.FormatInt(p.Step, 10) }},
	{"time", func(p api.HistoryPoint) string { return time.UnixMilli(p.At).Format(time.DateTime) }},
	{"loss", func(p api.HistoryPoint) string { return strconv.FormatFloat(p.Loss, 'f', 4, 64) }},
	{"lr", func(p api.HistoryPoint) string { return strconv.FormatFloat(p.LR, 'e', 3, 64) }},
	{"grad_norm", func(p api.HistoryPoint) string { return strconv.FormatFloat(p.GradNorm, 'f', 3, 64) }},
	{"loss_scale", func(p api.HistoryPoint) string { return strconv.FormatFloat(p.LossScale, 'g', -1, 64) }},
	{"skipped", func(p api.HistoryPoint) string { return strconv.FormatInt(p.SkippedSteps, 10) }},
	{"batch_size", func(p api.HistoryPoint) string { return strconv.Itoa(p.BatchSize) }},
	{"consumed_samples", func(p api.HistoryPoint) string { return strconv.FormatInt(p.Consumed, 10) }},
	{"val_loss", func(p api.HistoryPoint) string { return optFloat(p.ValLoss, 4) }},
	{"val_ppl", func(p api.HistoryPoint) string { return optFloat(p.ValPPL, 4) }},
	{"tokens_per_s", func(p api.HistoryPoint) string { return strconv.FormatFloat(p.TokensPerSec, 'f', 0, 64) }},
	{"samples_per_s", func(p api.HistoryPoint) string { return strconv.FormatFloat(p.SamplesPerSec, 'g', 4, 64) }},
	{"s_per_step", func(p api.HistoryPoint) string { return strconv.FormatFloat(p.SecondsPerStep, 'g', 4, 64) }},
	{"tflops_per_device", func(p api.HistoryPoint) string { return strconv.FormatFloat(p.TFLOPs, 'g', 4, 64) }},
	{"mfu", func(p api.HistoryPoint) string { return strconv.FormatFloat(p.MFU, 'g', 3, 64) }},
}

// optFloat is x with prec decimals, "" for 0 (a step without it).
func optFloat(x float64, prec int) string {
	if x == 0 {
		return ""
	}
	return strconv.FormatFloat(x, 'f', prec, 64)
}

// writeHistory prints a job's steps as a table.
func writeHistory(w io.Writer, h *api.JobHistory) error {
	if len(h.Points) == 0 {
		fmt.Fprintf(w, "job %s has no steps recorded yet\n", h.ID)
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	for _, col := range historyColumns {
		fmt.Fprintf(tw, "%s\t", col.name)
	}
	fmt.Fprintln(tw)
	for _, p := range h.Points {
		for _, col := range historyColumns {
			fmt.Fprintf(tw, "%s\t", col.v(p))
		}
		fmt.Fprintln(tw)
	}
	return tw.Flush()
}

// writeHistoryCSV writes a job's steps as CSV with a header row, times in
// unix milliseconds.
func writeHistoryCSV(w io.Writer, h *api.JobHistory) error {
	cw := csv.NewWriter(w)
	var row []string
	for _, col := range historyColumns {
		row = append(row, col.name)
	}
	cw.Write(row)
	for _, p := range h.Points {
		row = row[:0]
		for _, col := range historyColumns {
			if col.name == "time" {
				row = append(row, strconv.FormatInt(p.At, 10))
				continue
			}
			row = append(row, col.v(p))
		}
		cw.Write(row)
	}
	cw.Flush()
	return cw.Error()
}
