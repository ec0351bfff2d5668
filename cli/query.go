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
	_, err := request(c, call, table, false)
	return err
}

// change runs one write like query, retrying while the cluster elects a
// leader, and returns what the cluster answered.
func change[T any](c *ucli.Context, call func(*api.Client, context.Context) (T, error), table func(T) error) (T, error) {
	return request(c, call, table, true)
}

// request is query and change: one call with the global client flags,
// retried through leader elections when retry is set, its answer printed
// as JSON or with table.
func request[T any](c *ucli.Context, call func(*api.Client, context.Context) (T, error), table func(T) error, retry bool) (T, error) {
	var v T
	asJSON, err := outputJSON(c)
	if err != nil {
		return v, err
	}
	cl, err := ctlClient(c)
	if err != nil {
		return v, err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(c.Context, queryTimeout)
	defer cancel()
	once := func() error {
		v, err = call(cl, ctx)
		return err
	}
	if retry {
		err = retryElection(ctx, once)
	} else {
		err = once()
	}
	if err != nil {
		return v, err
	}
	if asJSON {
		return v, writeJSON(c.App.Writer, v)
	}
	return v, table(v)
}
