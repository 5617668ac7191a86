package enroll

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"corral.io/corral/api/client"
	"corral.io/corral/api/v1alpha1"
	"corral.io/corral/internal/backoff"
)

// fakeAPI answers from scripts, one entry per call; when a script runs out
// it gives the happy answer. It records every call as a line, so tests read
// the conversation they expect.
type fakeAPI struct {
	mu         sync.Mutex
	register   []error
	credential []credAnswer
	config     []error
	heartbeat  []error
	// stopAfter cancels the run's context at the nth heartbeat (0: never).
	stopAfter int
	cancel    context.CancelFunc
	calls     []string
	regs      int
	beats     int
	hostname  string
}

// credAnswer is one answer to Credential: an error, a pending answer
// (pending true), or else the credential.
type credAnswer struct {
	err        error
	pending    bool
	retryAfter int
}

func pop[T any](s *[]T) (T, bool) {
	var zero T
	if len(*s) == 0 {
		return zero, false
	}
	v := (*s)[0]
	*s = (*s)[1:]
	return v, true
}

func (f *fakeAPI) record(format string, args ...any) {
	f.calls = append(f.calls, fmt.Sprintf(format, args...))
}

func (f *fakeAPI) Register(_ context.Context, inv v1alpha1.Inventory, cred string) (v1alpha1.RegisterResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("register node=%s cred=%q", inv.Identity.NodeID, cred)
	if err, ok := pop(&f.register); ok && err != nil {
		return v1alpha1.RegisterResponse{}, err
	}
	f.regs++
	return v1alpha1.RegisterResponse{
		NodeID: "node-1", State: "pending", RetryAfterSeconds: 7,
		EnrollmentToken: fmt.Sprintf("tok-%d", f.regs),
	}, nil
}

func (f *fakeAPI) Credential(_ context.Context, token string) (*v1alpha1.Credential, *v1alpha1.RegisterResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("credential %s", token)
	a, _ := pop(&f.credential)
	switch {
	case a.err != nil:
		return nil, nil, a.err
	case a.pending:
		return nil, &v1alpha1.RegisterResponse{NodeID: "node-1", State: "pending", RetryAfterSeconds: a.retryAfter,
			Message: "awaiting approval"}, nil
	}
	return &v1alpha1.Credential{NodeID: "node-1", Credential: fmt.Sprintf("cred-%d", f.regs)}, nil, nil
}

func (f *fakeAPI) Config(_ context.Context, cred string) (v1alpha1.NodeConfig, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("config %s", cred)
	if err, ok := pop(&f.config); ok && err != nil {
		return v1alpha1.NodeConfig{}, err
	}
	h := f.hostname
	if h == "" {
		h = "worker-1"
	}
	return v1alpha1.NodeConfig{NodeID: "node-1", Hostname: h, Profile: "compute", HeartbeatSeconds: 10}, nil
}

func (f *fakeAPI) Heartbeat(_ context.Context, cred string, ready bool, msg string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("heartbeat %s ready=%v %s", cred, ready, msg)
	f.beats++
	if f.stopAfter > 0 && f.beats >= f.stopAfter {
		f.cancel()
	}
	err, _ := pop(&f.heartbeat)
	return err
}

// fakeClock never waits: Sleep records the wait and moves time on.
type fakeClock struct {
	now    time.Time
	sleeps []time.Duration
}

func (c *fakeClock) Now() time.Time { return c.now }

func (c *fakeClock) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.sleeps = append(c.sleeps, d)
	c.now = c.now.Add(d)
	return nil
}

// errNet stands for a connection refused: a plain error, not an APIError.
var errNet = errors.New("dial tcp 10.0.0.1:9443: connect: connection refused")

func apiErr(code int) error {
	return &client.APIError{Code: code, Message: "test says " + fmt.Sprint(code)}
}

func testInventory() *v1alpha1.Inventory {
	inv := &v1alpha1.Inventory{APIVersion: v1alpha1.Version, Kind: v1alpha1.KindInventory}
	inv.Identity.NodeID = "node-1"
	return inv
}

// harness runs Run against f with a fake clock and rand fixed at 0.5.
type harness struct {
	api      *fakeAPI
	clock    *fakeClock
	applied  []string
	applyErr error
	logs     bytes.Buffer
	once     bool
	backoff  backoff.Backoff
}

func (h *harness) run(t *testing.T) error {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	h.api.cancel = cancel
	if h.clock == nil {
		h.clock = &fakeClock{now: time.Date(2026, 11, 22, 6, 0, 0, 0, time.UTC)}
	}
	err := Run(ctx, Deps{
		API:       h.api,
		Inventory: testInventory,
		Apply: Hostname(func(name string) error {
			h.applied = append(h.applied, name)
			return h.applyErr
		}),
		Backoff: h.backoff,
		Clock:   h.clock,
		Rand:    func() float64 { return 0.5 },
		Logger:  slog.New(slog.NewTextHandler(&h.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Once:    h.once,
	})
	t.Logf("calls:\n%s\nlogs:\n%s", join(h.api.calls), h.logs.String())
	return err
}

func join(lines []string) string {
	var b bytes.Buffer
	for _, l := range lines {
		b.WriteString("  " + l + "\n")
	}
	return b.String()
}
