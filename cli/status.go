package cli

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"

	ucli "github.com/urfave/cli/v2"

	"bloom/api"
	"bloom/daemon/identity"
)

func statusCommand() *ucli.Command {
	return &ucli.Command{
		Name:  "status",
		Usage: "show the cluster: id, leader, Raft term and commit index, voters, health; and the answering node's devices (health, chip, memory)",
		UsageText: "bloomctl status [--addr HOST:PORT] [--output table|json]\n" +
			"   bloomctl status -o json | jq '.health'",
		Description: `Shows the cluster from the answering node (--addr): its id and leader, Raft
term and commit index, the voters, what is unhealthy, and that node's devices.
--output json prints GET /v1/status's answer on one line. Exits 1 with the reason
on stderr when no node can be reached.`,
		Action: func(c *ucli.Context) error {
			return query(c, (*api.Client).Status, func(st *api.Status) error { return writeStatus(c, st) })
		},
	}
}

// writeStatus prints the cluster's status, one setting a line.
func writeStatus(c *ucli.Context, st *api.Status) error {
	health := "healthy"
	if !st.Health.Healthy {
		health = "unhealthy: " + st.Health.Reason
	}
	leader := st.Leader
	if leader == "" {
		leader = "(none)"
	}
	tw := tabwriter.NewWriter(c.App.Writer, 0, 4, 2, ' ', 0)
	for _, kv := range [][2]string{
		{"cluster", st.ClusterID},
		{"answered by", st.Node},
		{"leader", leader},
		{"term", fmt.Sprint(st.Term)},
		{"commit index", fmt.Sprint(st.CommitIndex)},
		{"applied index", fmt.Sprint(st.AppliedIndex)},
		{"voters", strings.Join(st.Voters, ",")},
		{"non-voters", strings.Join(st.Nonvoters, ",")},
		{"health", fmt.Sprintf("%s (failure tolerance %d)", health, st.Health.FailureTolerance)},
	} {
		fmt.Fprintf(tw, "%s:\t%s\n", kv[0], kv[1])
	}
	for _, d := range st.Devices {
		fmt.Fprintf(tw, "device %s:\t%s\n", d.Device, deviceLine(d))
	}
	return tw.Flush()
}

// deviceLine is a device's probe as one line: health, chip, memory.
func deviceLine(d api.DeviceInfo) string {
	s := "ok"
	if !d.Healthy {
		s = "FAILING: " + d.Error
	}
	if d.SoC != "" {
		s += ", " + d.SoC
	}
	if d.MemTotal > 0 {
		s += fmt.Sprintf(", %.1f of %.1f GiB free", float64(d.MemFree)/(1<<30), float64(d.MemTotal)/(1<<30))
	}
	return s
}

// ctlClient builds the API client from bloomctl's global flags: --addr and
// either --secret-file (mutual TLS) or --token.
func ctlClient(c *ucli.Context) (*api.Client, error) { return ctlClientAt(c, globalString(c, "addr")) }

// ctlClientAt is a client of the node at addr with bloomctl's credentials.
func ctlClientAt(c *ucli.Context, addr string) (*api.Client, error) {
	switch {
	case globalString(c, "secret-file") != "":
		s, err := identity.LoadSecret(globalString(c, "secret-file"))
		if err != nil {
			return nil, err
		}
		id, err := identity.New(s, "bloomctl")
		if err != nil {
			return nil, err
		}
		return api.NewClient(addr, id.APIClientTLS(), "")
	case globalString(c, "token") != "" || globalString(c, "token-file") != "":
		token := globalString(c, "token")
		if f := globalString(c, "token-file"); f != "" {
			b, err := os.ReadFile(f)
			if err != nil {
				return nil, fmt.Errorf("--token-file: %w", err)
			}
			token = strings.TrimSpace(string(b))
		}
		tlsConf, err := identity.TokenClientTLS(token)
		if err != nil {
			return nil, err
		}
		return api.NewClient(addr, tlsConf, token)
	}
	return nil, errors.New("no credentials: give the cluster's --secret-file, --token-file or --token (BLOOM_SECRET_FILE, BLOOM_TOKEN_FILE, BLOOM_TOKEN)")
}
