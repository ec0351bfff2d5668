package main

import (
	"sort"
	"sync"
	"time"
)

// lateness watches how late a 10 ms ticker fires in this process: on a
// machine shared with other work, or with more members than the CPUs can
// run, memberlist's 200 ms probe timeout is missed for want of CPU, not
// of network, and this says so.
type lateness struct {
	stop chan struct{}
	done sync.WaitGroup
	mu   sync.Mutex
	late []time.Duration
}

func watchLateness() *lateness {
	l := &lateness{stop: make(chan struct{})}
	l.done.Go(func() {
		const every = 10 * time.Millisecond
		t := time.NewTicker(every)
		defer t.Stop()
		last := time.Now()
		for {
			select {
			case <-l.stop:
				return
			case now := <-t.C:
				l.mu.Lock()
				l.late = append(l.late, max(now.Sub(last)-every, 0))
				l.mu.Unlock()
				last = now
			}
		}
	})
	return l
}

// stopped ends the watch and returns the 99th percentile and the largest
// delay of a tick.
func (l *lateness) stopped() (p99, worst time.Duration) {
	close(l.stop)
	l.done.Wait()
	sort.Slice(l.late, func(i, j int) bool { return l.late[i] < l.late[j] })
	if len(l.late) == 0 {
		return 0, 0
	}
	return pct(l.late, .99), l.late[len(l.late)-1]
}
