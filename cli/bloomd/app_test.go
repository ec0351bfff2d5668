package bloomd

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	ucli "github.com/urfave/cli/v2"
)

// TestNoCommand: bloomd with no command, or one it does not know, prints
// its usage or says so, and exits with status 2, not 0.
func TestNoCommand(t *testing.T) {
	for _, args := range [][]string{{}, {"jion"}} {
		app := App()
		var out bytes.Buffer
		app.Writer, app.ErrWriter = &out, &out
		app.ExitErrHandler = func(*ucli.Context, error) {} // return the error, not os.Exit
		err := app.Run(append([]string{"bloomd"}, args...))
		var ec ucli.ExitCoder
		if !errors.As(err, &ec) || ec.ExitCode() != 2 {
			t.Errorf("bloomd %v: %v, want exit status 2", args, err)
		}
		if len(args) == 0 && !strings.Contains(out.String(), "USAGE") {
			t.Errorf("bloomd: printed %q, want its usage", out.String())
		}
	}
}
