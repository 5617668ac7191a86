package backoff

import (
	"math/rand/v2"
	"testing"
	"time"
)

const s = time.Second

func TestBackoffCeilingDoublesFromInitialAndCaps(t *testing.T) {
	for _, tc := range []struct {
		name string
		b    Backoff
		want []time.Duration // ceilings for attempts 1, 2, ...
	}{
		{"defaults: 1 s doubling to 30 s", Backoff{}, []time.Duration{1 * s, 2 * s, 4 * s, 8 * s, 16 * s, 30 * s, 30 * s}},
		{"custom cap", Backoff{Initial: 100 * time.Millisecond, Max: time.Second},
			[]time.Duration{100 * time.Millisecond, 200 * time.Millisecond, 400 * time.Millisecond, 800 * time.Millisecond, s, s}},
		{"cap below initial is raised to initial", Backoff{Initial: 5 * s, Max: 2 * s}, []time.Duration{5 * s, 5 * s}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for i, want := range tc.want {
				if got := tc.b.Ceiling(i + 1); got != want {
					t.Errorf("attempt %d: ceiling %v, want %v", i+1, got, want)
				}
			}
		})
	}
	if got := (Backoff{}).Ceiling(1 << 20); got != 30*s {
		t.Errorf("attempt 2^20: ceiling %v, want the 30 s cap (no overflow)", got)
	}
}

func TestBackoffJitterStaysWithinZeroAndTheCeiling(t *testing.T) {
	b := Backoff{}
	rng := rand.New(rand.NewPCG(1, 2))
	for attempt := 1; attempt <= 12; attempt++ {
		ceiling := b.Ceiling(attempt)
		lo, hi := ceiling, time.Duration(0)
		for range 2000 {
			d := b.Delay(attempt, rng.Float64())
			if d < 0 || d >= ceiling {
				t.Fatalf("attempt %d: delay %v outside [0, %v)", attempt, d, ceiling)
			}
			lo, hi = min(lo, d), max(hi, d)
		}
		// Full jitter: the draws spread over the whole range.
		if lo > ceiling/10 || hi < ceiling*9/10 {
			t.Errorf("attempt %d: delays in [%v, %v], want them spread over [0, %v)", attempt, lo, hi, ceiling)
		}
	}
	for _, r := range []float64{-1, 1, 2, nanFloat()} {
		if d := b.Delay(3, r); d != 0 {
			t.Errorf("Delay(3, %v) = %v, want 0 for a random number outside [0, 1)", r, d)
		}
	}
}

func nanFloat() float64 { var z float64; return z / z }
