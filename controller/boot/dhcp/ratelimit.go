package dhcp

import (
	"sync"
	"time"
)

// warnEvery is how often a repeated warning (pool exhausted, lease database
// failing) is logged at most; the ones in between are counted and the count
// goes with the next line, so a flood of DISCOVERs cannot flood the log.
const warnEvery = 10 * time.Second

// limiter lets one event through per interval and counts the rest.
type limiter struct {
	every time.Duration
	now   func() time.Time

	mu         sync.Mutex
	next       time.Time
	suppressed int
}

// allow reports whether to log now and how many events were suppressed since
// the last one logged.
func (l *limiter) allow() (ok bool, suppressed int) {
	t := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if t.Before(l.next) {
		l.suppressed++
		return false, 0
	}
	l.next = t.Add(l.every)
	n := l.suppressed
	l.suppressed = 0
	return true, n
}
