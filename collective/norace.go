//go:build !race

package collective

// Without the race detector the annotations of race.go are calls the
// compiler inlines to nothing.

func raceRelease() {}
func raceAcquire() {}
