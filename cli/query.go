package cli

import (
	"context"
	"time"

	ucli "github.com/urfave/cli/v2"

	"bloom/api"
)

// queryTimeout bounds one bloomctl request to the cluster.
const queryTimeout = 30 * time.Second

// query runs one read against the cluster with bloomctl's global client
// flags and prints the result: as JSON with --output json, else with table.
func query[T any](c *ucli.Context, call func(*api.Client, context.Context) (T, error), table func(T) error) error {
	asJSON, err := outputJSON(c)
	if err != nil {
		return err
	}
	cl, err := ctlClient(c)
	if err != nil {
		return err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(c.Context, queryTimeout)
	defer cancel()
	v, err := call(cl, ctx)
	if err != nil {
		return err
	}
	if asJSON {
		return writeJSON(c.App.Writer, v)
	}
	return table(v)
}
