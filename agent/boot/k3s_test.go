package boot

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"corral.io/corral/agent/enroll"
	"corral.io/corral/agent/k3s"
	api "corral.io/corral/api/v1alpha1"
	ctlenroll "corral.io/corral/controller/enroll"
	"corral.io/corral/controller/server/servertest"
	"corral.io/corral/internal/supervise"
	"corral.io/corral/internal/testutil"
)

// joinData is what a controller running k3s on loopback hands out.
func joinData() *api.K3sJoin {
	return &api.K3sJoin{ServerURL: "https://127.0.0.1:6443", Token: strings.Repeat("ab", 32)}
}

func TestRunStartsK3sAgentOnceTheNodeHasItsConfig(t *testing.T) {
	ctl := servertest.Start(t, servertest.Options{Policy: ctlenroll.Policy{Mode: ctlenroll.Auto}, K3sJoin: joinData})
	dir := t.TempDir()
	bin, argsFile := filepath.Join(dir, "k3s"), filepath.Join(dir, "args")
	// k3s cannot be downloaded here: a script stands in for it.
	script := fmt.Sprintf("#!/bin/sh\necho \"$@\" > %s\necho 'time=\"2026-11-22T07:00:00Z\" level=info msg=\"Starting k3s agent (fake)\"'\nexec sleep 3600\n", argsFile)
	if err := os.WriteFile(bin, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	cfgPath := filepath.Join(dir, "etc", "rancher", "k3s", "config.yaml")
	obs := newObserved(nil)
	var logs testutil.LockedBuffer
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		done <- runAgent(ctx, runFlags{api: ctl.URL, ca: ctl.CAFingerprint, root: dump, cmdline: "/nonexistent"}, runDeps{
			pid: 4242, clock: fastClock{},
			wrap: func(a enroll.API) enroll.API { obs.API = a; return obs },
			k3s: k3s.Options{Binary: bin, ConfigPath: cfgPath, ImagesSource: filepath.Join(dir, "none"),
				Supervise: supervise.Options{Ready: func(context.Context) error { return nil }}},
		}, &logs)
	}()
	defer func() { t.Logf("agent log:\n%s", logs.String()) }()
	await(t, "accepted heartbeat", obs.beat, done)
	deadline := time.Now().Add(30 * time.Second)
	for {
		if b, _ := os.ReadFile(argsFile); len(b) > 0 {
			if want := "agent --config " + cfgPath + "\n"; string(b) != want {
				t.Errorf("k3s arguments %q, want %q", b, want)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("k3s agent never started")
		}
		time.Sleep(10 * time.Millisecond)
	}
	b, err := os.ReadFile(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"server: https://127.0.0.1:6443", "token: " + joinData().Token, "node-ip: 127.0.0.1", "node-name: node-"} {
		if !strings.Contains(string(b), want) {
			t.Errorf("config lacks %q:\n%s", want, b)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("runAgent after cancel = %v, want nil", err)
	}
	if !strings.Contains(logs.String(), "child=k3s-agent") {
		t.Error("k3s' lines are not in the agent's log")
	}
	if strings.Contains(logs.String(), joinData().Token) {
		t.Error("the agent logged the k3s token")
	}
}

func TestRunWithoutK3sSaysSoOnceAndHeartbeats(t *testing.T) {
	ctl := servertest.Start(t, servertest.Options{Policy: ctlenroll.Policy{Mode: ctlenroll.Auto}, K3sJoin: joinData})
	obs := newObserved(nil)
	var logs testutil.LockedBuffer
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		done <- runAgent(ctx, runFlags{api: ctl.URL, ca: ctl.CAFingerprint, root: dump, cmdline: "/nonexistent"}, runDeps{
			pid: 4242, clock: fastClock{},
			wrap: func(a enroll.API) enroll.API { obs.API = a; return obs },
			k3s:  k3s.Options{Binary: filepath.Join(t.TempDir(), "k3s"), ConfigPath: filepath.Join(t.TempDir(), "config.yaml")},
		}, &logs)
	}()
	await(t, "accepted heartbeat", obs.beat, done)
	cancel()
	if err := <-done; err != nil {
		t.Errorf("runAgent after cancel = %v, want nil", err)
	}
	if n := strings.Count(logs.String(), "k3s not in this image (built without k3s): not joining the cluster"); n != 1 {
		t.Errorf("the no-k3s line appears %d times, want once:\n%s", n, logs.String())
	}
}
