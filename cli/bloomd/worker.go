package bloomd

import (
	"errors"
	"os"
	"os/signal"
	"syscall"

	ucli "github.com/urfave/cli/v2"

	"bloom/daemon/worker"
)

// workerCommand is `bloomd worker`: one rank of a job in its own process.
// bloomd join starts it with the assignment on stdin and the control pipe
// on file descriptor 3; it is hidden because nobody runs it by hand.
func workerCommand() *ucli.Command {
	return &ucli.Command{
		Name:   "worker",
		Hidden: true,
		Usage:  "run one rank of a job (started by bloomd join, not by hand)",
		Action: func(c *ucli.Context) error {
			ctrl := os.NewFile(3, "control")
			if _, err := ctrl.Stat(); err != nil {
				return errors.New("bloomd worker is started by bloomd join, with its control pipe on file descriptor 3")
			}
			ctx, stop := signal.NotifyContext(c.Context, os.Interrupt, syscall.SIGTERM)
			defer stop()
			return worker.Run(ctx, os.Stdin, ctrl, c.App.ErrWriter)
		},
	}
}
