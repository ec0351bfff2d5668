package main

import (
	"context"
	"fmt"
	"time"
)

// pollEvery is how often a wait looks at its condition.
const pollEvery = 100 * time.Millisecond

// waitFor polls cond until it reports done, returns an error, ctx ends or
// d passes. A cond that is not done yet may return a nil error, or a
// transient one (wrapped with retry) that is kept for the timeout message.
func waitFor(parent context.Context, d time.Duration, what string, cond func() (bool, error)) error {
	ctx, cancel := context.WithTimeout(parent, d)
	defer cancel()
	t := time.NewTicker(pollEvery)
	defer t.Stop()
	var last error
	for {
		done, err := cond()
		if done {
			return nil
		}
		if err != nil {
			r, ok := err.(retryError)
			if !ok {
				return fmt.Errorf("soak: waiting for %s: %w", what, err)
			}
			last = r.err
		}
		select {
		case <-ctx.Done():
			if parent.Err() != nil {
				return fmt.Errorf("soak: stopped while waiting for %s: %w", what, context.Cause(parent))
			}
			if last != nil {
				return fmt.Errorf("soak: %s did not happen within %v (last error: %w)", what, d, last)
			}
			return fmt.Errorf("soak: %s did not happen within %v: %w", what, d, ctx.Err())
		case <-t.C:
		}
	}
}

// retryError marks an error a wait outlives: a node that does not answer
// yet, a command that timed out.
type retryError struct{ err error }

func (r retryError) Error() string { return r.err.Error() }

func retry(err error) error {
	if err == nil {
		return nil
	}
	return retryError{err}
}

// pause waits d unless ctx ends first: a chosen delay (a crashed machine
// that takes a while to come back), never a wait for a condition.
func pause(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
