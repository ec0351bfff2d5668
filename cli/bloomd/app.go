package bloomd

import (
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
		Commands:             []*ucli.Command{devicesCommand(), joinCommand(), keygenCommand(), workerCommand(), cli.VersionCommand(), cli.CompletionCommand(), cli.ManCommand()},
		EnableBashCompletion: true,
	})
}
