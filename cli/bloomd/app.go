package bloomd

import (
	"fmt"

	ucli "github.com/urfave/cli/v2"

	"bloom/cli"
)

// App is bloomd: the per-node daemon.
func App() *ucli.App {
	return cli.OneLineUsageErrors(&ucli.App{
		Name:    "bloomd",
		Usage:   "the bloom node daemon",
		Version: cli.Version,
		Description: "bloomd runs on every node of a bloom cluster: `bloomd join` gossips, takes part\n" +
			"in Raft (the leader is the coordinator), serves the HTTPS API and runs one worker\n" +
			"process per device the coordinator's plans put on this node.",
		Commands:             []*ucli.Command{devicesCommand(), joinCommand(), keygenCommand(), workerCommand(), cli.VersionCommand(), cli.CompletionCommand("bloomd"), cli.ManCommand()},
		EnableBashCompletion: true,
		// With no command, the usage on standard error and exit status 2,
		// as for any other usage mistake: a service manager that started
		// a bare bloomd sees it fail.
		Action: func(c *ucli.Context) error {
			if c.NArg() > 0 {
				return ucli.Exit(fmt.Sprintf("bloomd: unknown command %q (bloomd --help lists them)", c.Args().First()), 2)
			}
			c.App.Writer = c.App.ErrWriter
			ucli.ShowAppHelp(c)
			return ucli.Exit("bloomd: give a command: bloomd join ... starts a node", 2)
		},
	})
}
