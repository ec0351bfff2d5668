package bloomd

import (
	"errors"
	"fmt"
	"os"

	ucli "github.com/urfave/cli/v2"

	"bloom/daemon/identity"
)

func keygenCommand() *ucli.Command {
	return &ucli.Command{
		Name:  "keygen",
		Usage: "make a new cluster secret, once per cluster; copy it to every node",
		Description: "Prints the secret, or writes it to --out (mode 0600, never over an existing file).\n" +
			"With --token --secret-file FILE, prints instead the bearer token bloomctl can use\n" +
			"(bloomctl --token-file or BLOOM_TOKEN) without holding the secret itself.\n\n" +
			"What the token grants: the whole user API of every node — submit and cancel jobs,\n" +
			"read their logs, checkpoints and metrics, serve — and jobs run as the bloomd user,\n" +
			"so --save, --load and --data-path read and write any path that user can, on every\n" +
			"node, unless each bloomd confines them with --job-roots DIR,... (then a job naming\n" +
			"a path outside is refused). Treat it as that user's password. It cannot reach the\n" +
			"endpoints nodes talk through (those need the secret), and it cannot be turned back\n" +
			"into the secret.",
		Flags: []ucli.Flag{
			&ucli.StringFlag{Name: "out", Usage: "write the secret to `FILE` instead of standard output", EnvVars: []string{"BLOOMD_OUT"}},
			&ucli.BoolFlag{Name: "token", Usage: "print the API token of --secret-file", EnvVars: []string{"BLOOMD_TOKEN"}},
			&ucli.StringFlag{Name: "secret-file", Usage: "the cluster secret `FILE`, for --token", EnvVars: []string{"BLOOMD_SECRET_FILE"}},
		},
		Action: func(c *ucli.Context) error {
			if c.Bool("token") {
				if c.String("secret-file") == "" {
					return errors.New("--token needs --secret-file FILE")
				}
				s, err := identity.LoadSecret(c.String("secret-file"))
				if err != nil {
					return err
				}
				_, err = fmt.Fprintln(c.App.Writer, s.Token())
				return err
			}
			s, err := identity.GenerateSecret()
			if err != nil {
				return err
			}
			out := c.String("out")
			if out == "" {
				_, err = fmt.Fprintln(c.App.Writer, s.String())
				return err
			}
			return writeSecret(out, s)
		},
	}
}

// writeSecret writes s to a new file at path, readable by its owner only,
// and refuses to replace an existing one: a cluster keeps its secret.
func writeSecret(path string, s identity.Secret) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		if errors.Is(err, os.ErrExist) {
			return fmt.Errorf("--out %s exists: a cluster keeps its secret; remove the file first if you mean to replace it", path)
		}
		return err
	}
	_, err = fmt.Fprintln(f, s.String())
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
