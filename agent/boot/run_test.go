package boot

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"corral.io/corral/agent/enroll"
	"corral.io/corral/agent/inventory"
	"corral.io/corral/api/client"
	api "corral.io/corral/api/v1alpha1"
	ctlenroll "corral.io/corral/controller/enroll"
	"corral.io/corral/controller/registry"
	"corral.io/corral/controller/server/servertest"
	"corral.io/corral/internal/testutil"
)

// These tests run the agent against the real controller API (servertest:
// HTTPS with the controller's CA, pinned by fingerprint, and a real
// registry). They live here rather than in agent/enroll because the agent
// may not import the controller (DESIGN.md); cmd may import both.

// fastClock keeps the real order of events but shortens every wait to at
// most a millisecond, so polls and heartbeats do not take real seconds.
type fastClock struct{}

func (fastClock) Now() time.Time { return time.Now() }
func (fastClock) Sleep(ctx context.Context, d time.Duration) error {
	return enroll.RealClock{}.Sleep(ctx, min(d, time.Millisecond))
}

// observed wraps the controller API and signals the test at the moments it
// waits for: the first pending answer and the first accepted heartbeat.
type observed struct {
	enroll.API
	pendingOnce, beatOnce sync.Once
	pending, beat         chan struct{}
}

func newObserved(a enroll.API) *observed {
	return &observed{API: a, pending: make(chan struct{}), beat: make(chan struct{})}
}

func (o *observed) Credential(ctx context.Context, token string) (*api.Credential, *api.RegisterResponse, error) {
	c, p, err := o.API.Credential(ctx, token)
	if p != nil {
		o.pendingOnce.Do(func() { close(o.pending) })
	}
	return c, p, err
}

func (o *observed) Heartbeat(ctx context.Context, cred string, ready bool, msg string) error {
	err := o.API.Heartbeat(ctx, cred, ready, msg)
	if err == nil {
		o.beatOnce.Do(func() { close(o.beat) })
	}
	return err
}

func await(t *testing.T, what string, ch <-chan struct{}, done <-chan error) {
	t.Helper()
	select {
	case <-ch:
	case err := <-done:
		t.Fatalf("the agent stopped before %s: %v", what, err)
	case <-time.After(30 * time.Second):
		t.Fatalf("no %s within 30 s", what)
	}
}

func nodeIDOfDump(t *testing.T) string {
	t.Helper()
	opts, err := inventoryOptions(runFlags{root: dump}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	id := inventory.Collect(opts).Identity.NodeID
	if id == "" {
		t.Fatal("no node id in the dump's inventory")
	}
	return id
}

func TestRunEnrollsWithManualApprovalAndBecomesReady(t *testing.T) {
	ctl := servertest.Start(t, servertest.Options{}) // manual approval
	id := nodeIDOfDump(t)
	var hostnames []string
	obs := newObserved(nil)
	var logs testutil.LockedBuffer
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- runAgent(ctx, runFlags{api: ctl.URL, ca: ctl.CAFingerprint, root: dump, setHostname: true, cmdline: "/nonexistent"},
			runDeps{
				pid:         4242,
				setHostname: func(n string) error { hostnames = append(hostnames, n); return nil },
				clock:       fastClock{},
				wrap:        func(a enroll.API) enroll.API { obs.API = a; return obs },
			}, &logs)
	}()
	defer func() { t.Logf("agent log:\n%s", logs.String()) }()

	// The node shows up pending, and the agent says what it waits for.
	await(t, "pending answer", obs.pending, done)
	n, err := ctl.Registry.Get(id)
	if err != nil || n.State != registry.Pending {
		t.Fatalf("registry has node %s as %q (%v), want pending", id, n.State, err)
	}
	// The agent logs the line after it has the answer the observer saw.
	want := "waiting for an operator to approve node " + id + ": corral nodes approve " + id
	for end := time.Now().Add(30 * time.Second); !strings.Contains(logs.String(), want); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(end) {
			t.Errorf("the agent's log does not say %q", want)
			break
		}
	}

	// An operator approves it.
	admin, err := client.New(ctl.URL, client.Trust{CAPEM: ctl.CAPEM}, ctl.AdminToken)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := admin.Action(ctx, id, "approve", api.ActionRequest{Reason: "test approves"}); err != nil {
		t.Fatalf("approve: %v", err)
	}

	// The agent collects its credential and config, applies the hostname
	// and heartbeats: the node is ready.
	await(t, "accepted heartbeat", obs.beat, done)
	n, err = ctl.Registry.Get(id)
	if err != nil || n.State != registry.Ready {
		t.Fatalf("registry has node %s as %q (%v), want ready", id, n.State, err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("runAgent after cancel = %v, want nil", err)
	}
	if d := cmp.Diff([]string{n.Hostname}, hostnames); d != "" || n.Hostname == "" {
		t.Errorf("hostnames set (-want +got):\n%s", d)
	}
	events, err := ctl.Registry.Events(id)
	if err != nil {
		t.Fatal(err)
	}
	var states []string
	for _, e := range events {
		if e.Type == "state" {
			states = append(states, e.To)
		}
	}
	if d := cmp.Diff([]string{"pending", "approved", "provisioning", "ready"}, states); d != "" {
		t.Errorf("state events (-want +got):\n%s", d)
	}
}

func TestRunOnceTakesTheControllerFromTheKernelCommandLine(t *testing.T) {
	ctl := servertest.Start(t, servertest.Options{Policy: ctlenroll.Policy{Mode: ctlenroll.Auto}})
	cmdline := "BOOTIF=01-52-54-00-12-34-56 corral.api=" + ctl.URL + " corral.ca=" + ctl.CAFingerprint + " quiet\n"
	var logs testutil.LockedBuffer
	var hostnames []string
	err := runAgent(t.Context(), runFlags{once: true, root: dump, cmdline: "/proc/cmdline"}, runDeps{
		readFile: func(name string) ([]byte, error) {
			if name != "/proc/cmdline" {
				t.Errorf("read %s, want /proc/cmdline", name)
			}
			return []byte(cmdline), nil
		},
		pid:         1,
		setHostname: func(n string) error { hostnames = append(hostnames, n); return nil },
		clock:       fastClock{},
	}, &logs)
	t.Logf("agent log:\n%s", logs.String())
	if err != nil {
		t.Fatalf("run --once: %v", err)
	}
	n, err := ctl.Registry.Get(nodeIDOfDump(t))
	if err != nil || n.State != registry.Provisioning {
		t.Fatalf("registry has the node as %q (%v), want provisioning (config fetched, no heartbeat yet)", n.State, err)
	}
	if d := cmp.Diff([]string{n.Hostname}, hostnames); d != "" {
		t.Errorf("as PID 1 the agent sets the hostname (-want +got):\n%s", d)
	}
}

func TestRunStopsWhenDecommissioned(t *testing.T) {
	ctl := servertest.Start(t, servertest.Options{Policy: ctlenroll.Policy{Mode: ctlenroll.Auto}})
	id := nodeIDOfDump(t)
	obs := newObserved(nil)
	var logs testutil.LockedBuffer
	done := make(chan error, 1)
	go func() {
		done <- runAgent(t.Context(), runFlags{api: ctl.URL, ca: ctl.CAFingerprint, root: dump}, runDeps{
			pid: 4242, clock: fastClock{},
			wrap: func(a enroll.API) enroll.API { obs.API = a; return obs },
		}, &logs)
	}()
	defer func() { t.Logf("agent log:\n%s", logs.String()) }()
	await(t, "accepted heartbeat", obs.beat, done)
	admin, err := client.New(ctl.URL, client.Trust{CAPEM: ctl.CAPEM}, ctl.AdminToken)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := admin.Action(t.Context(), id, "decommission", api.ActionRequest{Reason: "test retires it"}); err != nil {
		t.Fatalf("decommission: %v", err)
	}
	var err2 error
	select {
	case err2 = <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("the agent kept running for 30 s after its node was decommissioned")
	}
	var re *enroll.RefusedError
	if !errors.As(err2, &re) || !strings.Contains(err2.Error(), "decommissioned") {
		t.Fatalf("runAgent = %v, want a RefusedError saying the node is decommissioned", err2)
	}
	if !strings.Contains(logs.String(), "level=ERROR") {
		t.Error("the refusal is not logged as an error")
	}
}

func TestRunSaysWhereTheControllerSettingsComeFrom(t *testing.T) {
	for _, tc := range []struct {
		name    string
		f       runFlags
		cmdline string
		want    string
	}{
		{"nothing anywhere", runFlags{}, "console=ttyS0", "no controller URL: pass --api"},
		{"no fingerprint", runFlags{api: "https://10.0.0.1:9443"}, "console=ttyS0", "no CA fingerprint: pass --ca-fingerprint or boot with corral.ca="},
		{"bad fingerprint", runFlags{}, "corral.api=https://10.0.0.1:9443 corral.ca=xyz", `CA fingerprint "xyz": want 64 hex digits`},
		{"not https", runFlags{ca: strings.Repeat("ab", 32)}, "corral.api=http://10.0.0.1", "want https://host:port"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.f.cmdline = "/proc/cmdline"
			err := runAgent(t.Context(), tc.f, runDeps{readFile: func(string) ([]byte, error) { return []byte(tc.cmdline), nil }}, &bytes.Buffer{})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("runAgent = %v, want it to say %q", err, tc.want)
			}
		})
	}
}

// failCounter cancels the run after n failed registrations.
type failCounter struct {
	enroll.API
	n      int
	cancel context.CancelFunc
}

func (f *failCounter) Register(ctx context.Context, inv api.Inventory, cred string) (api.RegisterResponse, error) {
	r, err := f.API.Register(ctx, inv, cred)
	if err != nil {
		if f.n--; f.n == 0 {
			f.cancel()
		}
	}
	return r, err
}

func TestRunWithTheWrongCAFingerprintRetriesAndSaysWhy(t *testing.T) {
	ctl := servertest.Start(t, servertest.Options{Policy: ctlenroll.Policy{Mode: ctlenroll.Auto}})
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var logs testutil.LockedBuffer
	err := runAgent(ctx, runFlags{api: ctl.URL, ca: strings.Repeat("0", 64), root: dump}, runDeps{
		pid: 4242, clock: fastClock{},
		wrap: func(a enroll.API) enroll.API { return &failCounter{API: a, n: 3, cancel: cancel} },
	}, &logs)
	t.Logf("agent log:\n%s", logs.String())
	if err != nil {
		t.Fatalf("runAgent = %v, want nil after cancel", err)
	}
	// The third failure cancels the run, so two retries are logged.
	if n := strings.Count(logs.String(), "register failed; retrying"); n != 2 {
		t.Errorf("%d retries logged, want 2", n)
	}
	if !strings.Contains(logs.String(), "does not match the pinned fingerprint") {
		t.Error("the log does not say that the controller's CA is not the pinned one")
	}
	if nodes, err := ctl.Registry.List(); err != nil || len(nodes) != 0 {
		t.Errorf("the controller recorded %d nodes (%v) from an agent that refused to trust it", len(nodes), err)
	}
}

// dump is a machine dump the agent inventories instead of this machine.
const dump = "../inventory/testdata/build-vm"
