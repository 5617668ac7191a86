package boot

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	yaml "go.yaml.in/yaml/v3"

	"corral.io/corral/agent/enroll"
	"corral.io/corral/agent/k3s"
	ctlenroll "corral.io/corral/controller/enroll"
	"corral.io/corral/controller/server/servertest"
	"corral.io/corral/internal/supervise"
	"corral.io/corral/internal/testutil"
)

// The renewer's changes reach the joiner attached, those seen before it
// first; none after it is detached; a failure is logged.
func TestAddressWatchKeepsAndForwardsChanges(t *testing.T) {
	var w addressWatch
	pfx := netip.MustParsePrefix
	w.changed("eno1", pfx("10.0.0.5/24"), pfx("10.0.0.7/24"))
	var got []string
	sink := func(iface string, a netip.Addr) error {
		got = append(got, iface+" "+a.String())
		if iface == "bad" {
			return errors.New("boom")
		}
		return nil
	}
	var logs testutil.LockedBuffer
	detach := w.attach(sink, slog.New(slog.NewTextHandler(&logs, nil)))
	w.changed("eno1", pfx("10.0.0.7/24"), pfx("10.0.0.9/24"))
	w.changed("bad", pfx("10.1.0.1/24"), pfx("10.1.0.2/24"))
	detach()
	w.changed("eno1", pfx("10.0.0.9/24"), pfx("10.0.0.11/24"))
	if diff := cmp.Diff([]string{"eno1 10.0.0.7", "eno1 10.0.0.9", "bad 10.1.0.2"}, got); diff != "" {
		t.Errorf("sink calls (-want +got):\n%s", diff)
	}
	if !strings.Contains(logs.String(), "k3s advertises the old one") || !strings.Contains(logs.String(), "boom") {
		t.Errorf("the failure is not logged:\n%s", logs.String())
	}
	// The next joiner gets the latest address of each interface.
	got = nil
	w.attach(func(iface string, a netip.Addr) error { got = append(got, iface+" "+a.String()); return nil }, slog.New(slog.DiscardHandler))
	if want := "eno1 10.0.0.11"; !strings.Contains(strings.Join(got, ","), want) || len(got) != 2 {
		t.Errorf("replayed %q, want the latest of eno1 and bad", got)
	}
}

// TestAddressChangeRewritesK3sNodeIP: runAgent with a real controller and
// a stand-in k3s; when the lease renewer reports a new address of the
// provisioning interface, the k3s agent configuration is written with it
// and k3s agent is started again.
func TestAddressChangeRewritesK3sNodeIP(t *testing.T) {
	ctl := servertest.Start(t, servertest.Options{Policy: ctlenroll.Policy{Mode: ctlenroll.Auto}, K3sJoin: joinData})
	dir := t.TempDir()
	bin, argsFile := filepath.Join(dir, "k3s"), filepath.Join(dir, "args")
	// k3s cannot be downloaded here: a script stands in for it.
	script := fmt.Sprintf("#!/bin/sh\necho \"$@\" >> %s\nexec sleep 3600\n", argsFile)
	if err := os.WriteFile(bin, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	cfgPath := filepath.Join(dir, "config.yaml")
	obs := newObserved(nil)
	addrs := &addressWatch{}
	var logs testutil.LockedBuffer
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		done <- runAgent(ctx, runFlags{api: ctl.URL, ca: ctl.CAFingerprint, root: dump, cmdline: "/nonexistent"}, runDeps{
			pid: 4242, clock: fastClock{}, addresses: addrs,
			wrap: func(a enroll.API) enroll.API { obs.API = a; return obs },
			k3s: k3s.Options{Binary: bin, ConfigPath: cfgPath, ImagesSource: filepath.Join(dir, "none"),
				Supervise: supervise.Options{Ready: func(context.Context) error { return nil }}},
		}, &logs)
	}()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("runAgent after cancel = %v, want nil", err)
		}
		if t.Failed() {
			t.Logf("agent log:\n%s", logs.String())
		}
	}()
	starts := func() int { b, _ := os.ReadFile(argsFile); return strings.Count(string(b), "\n") }
	waitUntil := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	config := func() k3s.AgentConfig {
		t.Helper()
		var c k3s.AgentConfig
		b, err := os.ReadFile(cfgPath)
		if err != nil {
			t.Fatal(err)
		}
		if err := yaml.Unmarshal(b, &c); err != nil {
			t.Fatal(err)
		}
		return c
	}
	waitUntil("k3s agent to start", func() bool { return starts() == 1 })
	before := config()
	if before.NodeIP != "127.0.0.1" || before.FlannelIface == "" {
		t.Fatalf("first configuration: node-ip %q on %q, want 127.0.0.1", before.NodeIP, before.FlannelIface)
	}

	// What netup.Renew calls when a new lease moved the address.
	addrs.changed(before.FlannelIface, netip.MustParsePrefix("127.0.0.1/8"), netip.MustParsePrefix("127.0.0.2/8"))
	if after := config(); after.NodeIP != "127.0.0.2" || after.FlannelIface != before.FlannelIface {
		t.Errorf("after the change: node-ip %q on %q, want 127.0.0.2 on %s", after.NodeIP, after.FlannelIface, before.FlannelIface)
	}
	waitUntil("k3s agent to restart", func() bool { return starts() == 2 })
	if !strings.Contains(logs.String(), "k3s agent configuration changed: restarting k3s agent") {
		t.Error("the restart is not logged")
	}
}
