package enroll

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"corral.io/corral/api/v1alpha1"
	"corral.io/corral/internal/backoff"
)

const s = time.Second

func TestRunPendingThenApprovedFetchesConfigAndApplies(t *testing.T) {
	h := &harness{once: true, api: &fakeAPI{credential: []credAnswer{{pending: true, retryAfter: 7}, {pending: true, retryAfter: 3}}}}
	if err := h.run(t); err != nil {
		t.Fatalf("Run: %v", err)
	}
	want := []string{
		`register node=node-1 cred=""`,
		"credential tok-1",
		"credential tok-1",
		"credential tok-1",
		"config cred-1",
	}
	if d := cmp.Diff(want, h.api.calls); d != "" {
		t.Errorf("calls (-want +got):\n%s", d)
	}
	if d := cmp.Diff([]time.Duration{7 * s, 3 * s}, h.clock.sleeps); d != "" {
		t.Errorf("waits while pending should follow RetryAfterSeconds (-want +got):\n%s", d)
	}
	if d := cmp.Diff([]string{"worker-1"}, h.applied); d != "" {
		t.Errorf("hostname set (-want +got):\n%s", d)
	}
	if !strings.Contains(h.logs.String(), "waiting for an operator to approve node node-1: corral nodes approve node-1") {
		t.Error("the wait for approval is not logged with the command that ends it")
	}
}

func TestRunLogsTheWaitForApprovalAgainEveryMinute(t *testing.T) {
	pending := make([]credAnswer, 30) // 30 polls × 5 s = 150 s
	for i := range pending {
		pending[i] = credAnswer{pending: true, retryAfter: 5}
	}
	h := &harness{once: true, api: &fakeAPI{credential: pending}}
	if err := h.run(t); err != nil {
		t.Fatal(err)
	}
	// Logged at 0 s, 60 s and 120 s.
	if n := strings.Count(h.logs.String(), "waiting for an operator"); n != 3 {
		t.Errorf("the wait was logged %d times over 150 s, want 3", n)
	}
}

func TestRunRegisterBacksOffExponentiallyUpToTheCap(t *testing.T) {
	fails := []error{errNet, apiErr(503), errNet, apiErr(500), errNet, errNet, apiErr(429), errNet}
	h := &harness{once: true, api: &fakeAPI{register: fails}}
	if err := h.run(t); err != nil {
		t.Fatal(err)
	}
	// rand is fixed at 0.5: each wait is half its ceiling, 1 s doubling to 30 s.
	want := []time.Duration{s / 2, 1 * s, 2 * s, 4 * s, 8 * s, 15 * s, 15 * s, 15 * s}
	if d := cmp.Diff(want, h.clock.sleeps); d != "" {
		t.Errorf("waits (-want +got):\n%s", d)
	}
	if n := len(h.api.calls); n != len(fails)+3 {
		t.Errorf("%d calls, want %d register attempts then credential and config", n, len(fails)+1)
	}
}

func TestRunBackoffCapIsConfigurable(t *testing.T) {
	h := &harness{once: true, backoff: backoff.Backoff{Initial: 2 * s, Max: 5 * s},
		api: &fakeAPI{config: []error{errNet, errNet, errNet, errNet}}}
	if err := h.run(t); err != nil {
		t.Fatal(err)
	}
	want := []time.Duration{1 * s, 2 * s, 5 * s / 2, 5 * s / 2}
	if d := cmp.Diff(want, h.clock.sleeps); d != "" {
		t.Errorf("waits (-want +got):\n%s", d)
	}
}

func TestRunStopsLoudlyWhenRefused(t *testing.T) {
	for _, tc := range []struct {
		name string
		api  *fakeAPI
		step string
	}{
		{"rejected while pending", &fakeAPI{credential: []credAnswer{{pending: true}, {err: apiErr(403)}}}, "ask for the node credential"},
		{"decommissioned before config", &fakeAPI{config: []error{apiErr(403)}}, "fetch the node configuration"},
		{"decommissioned while heartbeating", &fakeAPI{heartbeat: []error{nil, apiErr(403)}}, "heartbeat"},
		{"decommissioned node registers", &fakeAPI{register: []error{apiErr(403)}}, "register"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := &harness{api: tc.api}
			err := h.run(t)
			var re *RefusedError
			if !errors.As(err, &re) {
				t.Fatalf("Run = %v, want a *RefusedError", err)
			}
			if re.Node != "node-1" || re.Step != tc.step {
				t.Errorf("refused at %q for %q, want %q for node-1", re.Step, re.Node, tc.step)
			}
			for _, want := range []string{"rejected or decommissioned", "corral nodes forget node-1", "test says 403"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not say %q", err, want)
				}
			}
			if !strings.Contains(h.logs.String(), "level=ERROR") {
				t.Error("the refusal is not logged as an error")
			}
		})
	}
}

func TestRunDoesNotRetryABadRequest(t *testing.T) {
	for _, code := range []int{400, 401, 409, 413} {
		t.Run(fmt.Sprint(code), func(t *testing.T) {
			h := &harness{api: &fakeAPI{register: []error{apiErr(code)}}}
			err := h.run(t)
			if want := fmt.Sprintf("register: controller: %d", code); err == nil || !strings.Contains(err.Error(), want) {
				t.Fatalf("Run = %v, want %q and the controller's message", err, want)
			}
			if len(h.api.calls) != 1 || len(h.clock.sleeps) != 0 {
				t.Errorf("a %d to register was retried: calls %q, waits %v", code, h.api.calls, h.clock.sleeps)
			}
		})
	}
}

func TestRunRegistersAgainWhenTheCredentialIsNoLongerValid(t *testing.T) {
	h := &harness{api: &fakeAPI{heartbeat: []error{nil, apiErr(401)}, stopAfter: 4}}
	if err := h.run(t); !errors.Is(err, context.Canceled) {
		t.Fatalf("Run = %v, want context.Canceled", err)
	}
	want := []string{
		`register node=node-1 cred=""`,
		"credential tok-1",
		"config cred-1",
		"heartbeat cred-1 ready=true configuration applied (profile compute)",
		"heartbeat cred-1 ready=true configuration applied (profile compute)",
		`register node=node-1 cred=""`,
		"credential tok-2",
		"config cred-2",
		"heartbeat cred-2 ready=true configuration applied (profile compute)",
		"heartbeat cred-2 ready=true configuration applied (profile compute)",
	}
	if d := cmp.Diff(want, h.api.calls); d != "" {
		t.Errorf("calls (-want +got):\n%s", d)
	}
	// Heartbeats every HeartbeatSeconds (10 s); the first re-registration
	// after an accepted heartbeat is immediate.
	if d := cmp.Diff([]time.Duration{10 * s, 10 * s}, h.clock.sleeps); d != "" {
		t.Errorf("waits (-want +got):\n%s", d)
	}
}

func TestRunBacksOffWhenTokensKeepBeingRefused(t *testing.T) {
	h := &harness{once: true, api: &fakeAPI{credential: []credAnswer{{err: apiErr(401)}, {err: apiErr(401)}, {err: apiErr(401)}}}}
	if err := h.run(t); err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff([]time.Duration{s / 2, 1 * s, 2 * s}, h.clock.sleeps); d != "" {
		t.Errorf("waits between registrations (-want +got):\n%s", d)
	}
	if got := strings.Count(strings.Join(h.api.calls, "\n"), "register"); got != 4 {
		t.Errorf("%d registrations, want 4", got)
	}
}

func TestRunHeartbeatsOnScheduleThroughNetworkErrors(t *testing.T) {
	h := &harness{api: &fakeAPI{heartbeat: []error{nil, errNet, apiErr(502), nil}, stopAfter: 5}}
	if err := h.run(t); !errors.Is(err, context.Canceled) {
		t.Fatalf("Run = %v, want context.Canceled", err)
	}
	if d := cmp.Diff([]time.Duration{10 * s, 10 * s, 10 * s, 10 * s}, h.clock.sleeps); d != "" {
		t.Errorf("waits (-want +got):\n%s", d)
	}
	if !strings.Contains(h.logs.String(), "heartbeat accepted again") {
		t.Error("recovery after failed heartbeats is not logged")
	}
}

func TestRunReportsNotReadyWhenApplyFails(t *testing.T) {
	h := &harness{applyErr: errors.New("operation not permitted"), api: &fakeAPI{stopAfter: 1}}
	if err := h.run(t); !errors.Is(err, context.Canceled) {
		t.Fatalf("Run = %v", err)
	}
	last := h.api.calls[len(h.api.calls)-1]
	want := `heartbeat cred-1 ready=false apply the configuration of node node-1: set hostname "worker-1": operation not permitted`
	if last != want {
		t.Errorf("heartbeat %q, want %q", last, want)
	}
}

func TestRunOnceReturnsTheApplyError(t *testing.T) {
	h := &harness{once: true, api: &fakeAPI{hostname: "bad_name"}}
	err := h.run(t)
	if err == nil || !strings.Contains(err.Error(), `hostname "bad_name"`) {
		t.Fatalf("Run = %v, want the invalid hostname named", err)
	}
	if len(h.applied) != 0 {
		t.Errorf("an invalid hostname was set: %q", h.applied)
	}
}

// laterAPI cancels the run's context shortly after a call to cancelIn
// answers, so that the cancel lands while the loop waits (with the real
// clock) for far longer than the test allows.
type laterAPI struct {
	*fakeAPI
	cancelIn string
	cancel   context.CancelFunc
}

func (c *laterAPI) soon(call string) {
	if c.cancelIn == call {
		time.AfterFunc(20*time.Millisecond, c.cancel)
	}
}

func (c *laterAPI) Credential(ctx context.Context, token string) (*v1alpha1.Credential, *v1alpha1.RegisterResponse, error) {
	defer c.soon("credential")
	return c.fakeAPI.Credential(ctx, token)
}

func (c *laterAPI) Heartbeat(ctx context.Context, cred string, ready bool, msg string) error {
	defer c.soon("heartbeat")
	return c.fakeAPI.Heartbeat(ctx, cred, ready, msg)
}

func TestRunStopsPromptlyWhenCancelled(t *testing.T) {
	for _, tc := range []struct {
		name string
		api  *laterAPI
	}{
		{"while pending (RetryAfter 300 s)", &laterAPI{fakeAPI: &fakeAPI{credential: []credAnswer{{pending: true, retryAfter: 300}}}, cancelIn: "credential"}},
		{"while backing off (ceiling 60 s)", &laterAPI{fakeAPI: &fakeAPI{credential: []credAnswer{{err: errNet}}}, cancelIn: "credential"}},
		{"while heartbeating (every 10 s)", &laterAPI{fakeAPI: &fakeAPI{}, cancelIn: "heartbeat"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			tc.api.cancel = cancel
			start := time.Now()
			err := Run(ctx, Deps{API: tc.api, Inventory: testInventory,
				Backoff: backoff.Backoff{Initial: time.Minute, Max: time.Minute}, Rand: func() float64 { return 0.99 }})
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("Run = %v, want context.Canceled", err)
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("Run took %v to stop after cancel", d)
			}
		})
	}
}

func TestRunWithoutAnIdentityStopsBeforeCallingTheController(t *testing.T) {
	f := &fakeAPI{}
	err := Run(t.Context(), Deps{
		API: f,
		Inventory: func() *v1alpha1.Inventory {
			inv := testInventory()
			inv.Identity.NodeID = ""
			return inv
		},
		Clock: &fakeClock{now: time.Date(2026, 11, 22, 6, 0, 0, 0, time.UTC)},
	})
	if err == nil || !strings.Contains(err.Error(), "no stable identity") {
		t.Fatalf("err = %v, want one about the missing identity", err)
	}
	if len(f.calls) != 0 {
		t.Errorf("the controller was called: %v", f.calls)
	}
}
