package enroll

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"
)

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
func nanFloat() float64 { var z float64; return z / z }
