// Package backoff paces retries: capped exponential growth with full
// jitter. The agent's retry loops (network, root filesystem, enrolment, log
// shipping) and internal/supervise's restarts share it.
package backoff

import (
	"context"
	"math"
	"time"
)

// Backoff says how long to wait before retrying a failed call: exponential
// growth from Initial, capped at Max, with full jitter (the wait is uniformly
// random below the ceiling, so a rack of nodes rebooting together does not
// hit the controller in waves).
type Backoff struct {
	// Initial is the ceiling of the first retry's wait (default 1 s).
	Initial time.Duration
	// Max caps the ceiling (default 30 s).
	Max time.Duration
}

// Default is 1 s doubling up to 30 s.
var Default = Backoff{Initial: time.Second, Max: 30 * time.Second}

// WithDefaults is b with its zero fields filled from Default.
func (b Backoff) WithDefaults() Backoff {
	if b.Initial <= 0 {
		b.Initial = Default.Initial
	}
	if b.Max <= 0 {
		b.Max = Default.Max
	}
	if b.Max < b.Initial {
		b.Max = b.Initial
	}
	return b
}

// Ceiling is the longest wait after the attempt-th consecutive failure
// (attempt counts from 1): min(Max, Initial·2^(attempt-1)).
func (b Backoff) Ceiling(attempt int) time.Duration {
	b = b.WithDefaults()
	d := b.Initial
	for i := 1; i < attempt && d < b.Max; i++ {
		d *= 2
	}
	return min(d, b.Max)
}

// Delay is the wait after the attempt-th consecutive failure, given r, a
// uniform random number in [0, 1): full jitter, r·Ceiling(attempt).
func (b Backoff) Delay(attempt int, r float64) time.Duration {
	if r < 0 || r >= 1 || math.IsNaN(r) {
		r = 0
	}
	return time.Duration(r * float64(b.Ceiling(attempt)))
}

// Sleep waits d, or until ctx is done (then it returns ctx's error): the wait
// between two tries of a retry loop.
func Sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
