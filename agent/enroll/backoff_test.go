package enroll

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"
)

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

func TestJudge(t *testing.T) {
	for _, tc := range []struct {
		err    error
		ctxErr error
		want   verdict
	}{
		{nil, nil, proceed},
		{errNet, nil, retry},
		{fmt.Errorf("POST /x: %w", context.DeadlineExceeded), nil, retry},
		{apiErr(500), nil, retry},
		{apiErr(503), nil, retry},
		{apiErr(408), nil, retry},
		{apiErr(429), nil, retry},
		{apiErr(401), nil, reregister},
		{fmt.Errorf("wrapped: %w", apiErr(401)), nil, reregister},
		{apiErr(403), nil, refused},
		{apiErr(400), nil, invalid},
		{apiErr(404), nil, invalid},
		{apiErr(409), nil, invalid},
		{apiErr(413), nil, invalid},
		{errNet, context.Canceled, cancelled},
		{fmt.Errorf("POST /x: %w", context.Canceled), nil, cancelled},
	} {
		t.Run(fmt.Sprintf("%v", tc.err), func(t *testing.T) {
			if got := judge(tc.err, tc.ctxErr); got != tc.want {
				t.Errorf("judge(%v, %v) = %v, want %v", tc.err, tc.ctxErr, got, tc.want)
			}
		})
	}
}

func TestRealClockSleep(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	if err := (RealClock{}).Sleep(ctx, time.Millisecond); err != nil {
		t.Errorf("Sleep(1ms) = %v", err)
	}
	cancel()
	if err := (RealClock{}).Sleep(ctx, time.Hour); !errors.Is(err, context.Canceled) {
		t.Errorf("Sleep(1h) on a cancelled context = %v, want context.Canceled", err)
	}
}

func TestHeartbeatSpreadStaysWithinTenPercent(t *testing.T) {
	every := 10 * s
	for _, tc := range []struct {
		r    float64
		want time.Duration
	}{
		{0, 9 * s}, {0.5, 10 * s}, {0.999999, 11 * s}, {-1, 10 * s}, {nanFloat(), 10 * s},
	} {
		if got := spread(every, tc.r); got.Round(time.Millisecond) != tc.want {
			t.Errorf("spread(10s, %v) = %v, want %v", tc.r, got, tc.want)
		}
	}
}
