package cli

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"sync"
	"syscall"

	ucli "github.com/urfave/cli/v2"

	"bloom/ckpt"
)

// interruptible is train --local's answer to SIGINT and SIGTERM: the first
// asks the run to stop after its current step (stopped then returns that
// signal), a second cancels ctx (no save). Call release when the run is
// over: it stops listening and ends the goroutine that listens.
func interruptible(c *ucli.Context) (ctx context.Context, stopped func() os.Signal, release func()) {
	ctx, cancel := context.WithCancel(c.Context)
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	var mu sync.Mutex
	var first os.Signal
	done, over := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(over)
		for {
			select {
			case <-done:
				return
			case sig := <-sigs:
				mu.Lock()
				again := first != nil
				if !again {
					first = sig
				}
				mu.Unlock()
				if again {
					fmt.Fprintf(c.App.ErrWriter, "%v again: aborting without saving\n", sig)
					cancel()
				} else {
					fmt.Fprintf(c.App.ErrWriter, "%v: stopping after this step (and saving, with --save); %v again aborts\n", sig, sig)
				}
			}
		}
	}()
	stopped = func() os.Signal {
		mu.Lock()
		defer mu.Unlock()
		return first
	}
	release = func() {
		signal.Stop(sigs)
		close(done)
		<-over
		cancel()
	}
	return ctx, stopped, release
}

// interrupted is the error train --local exits with when a signal stopped
// it: status 128 + the signal's number, as a shell reports a killed
// process, saying what was saved.
func interrupted(sig os.Signal, step, steps int, save string) error {
	code := 130
	if s, ok := sig.(syscall.Signal); ok {
		code = 128 + int(s)
	}
	if save == "" {
		return ucli.Exit(fmt.Sprintf("train: %v: stopped after step %d of %d; nothing saved (no --save)", sig, step, steps), code)
	}
	return ucli.Exit(fmt.Sprintf("train: %v: stopped after step %d of %d; saved the model to %s and its checkpoint %s: --load %s resumes",
		sig, step, steps, save, filepath.Join(save, ckpt.StepDirName(step)), save), code)
}

// resumeFrom is the native checkpoint in dir that train --local resumes
// from (a committed step directory, or the latest step of a checkpoint
// root or of a --save directory), or "" when dir holds none (a Hugging
// Face directory: its weights, from step 0).
func resumeFrom(dir string) string {
	if dir == "" {
		return ""
	}
	if _, err := os.Stat(filepath.Join(dir, ckpt.ManifestName)); err == nil {
		return dir
	}
	step, _, err := ckpt.LatestNative(dir)
	if err != nil {
		return ""
	}
	return step
}
