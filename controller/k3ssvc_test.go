package controller

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"corral.io/corral/controller/config"
	"corral.io/corral/internal/testutil"
)

// testConfig is a controller bound to loopback only, without DHCP or TFTP.
func testConfig(t *testing.T, k3sSection string) *config.Controller {
	t.Helper()
	doc := `apiVersion: corral.io/v1alpha1
kind: ControllerConfig
stateDir: ` + t.TempDir() + `
advertiseAddress: 127.0.0.1
dhcp: {mode: off}
tftp: {enabled: false}
http: {listen: "127.0.0.1:0"}
api: {listen: "127.0.0.1:0"}
boot: {ipxeDir: ""}
` + k3sSection
	cfg, err := config.Decode(strings.NewReader(doc))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func TestWithoutK3sBinaryOneLineSaysHowToEnableIt(t *testing.T) {
	var logs testutil.LockedBuffer
	d, err := New(testConfig(t, ""), slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	d.close()
	if d.K3s != nil || k3sJoin(d.K3s) != nil {
		t.Error("k3s prepared without a binary")
	}
	if n := strings.Count(logs.String(), "k3s disabled: k3s.binary is not set"); n != 1 {
		t.Errorf("%d lines about k3s being disabled, want 1:\n%s", n, logs.String())
	}
	if !strings.Contains(logs.String(), "set k3s.binary: /usr/local/bin/k3s") {
		t.Errorf("the line does not say how to enable k3s:\n%s", logs.String())
	}
}

func TestWithK3sBinaryTheServerRunsAsAService(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "k3s")
	args := filepath.Join(dir, "args")
	os.WriteFile(bin, []byte("#!/bin/sh\necho \"$@\" > "+args+"\nexec sleep 3600\n"), 0o755)
	cfg := testConfig(t, "k3s:\n  binary: "+bin+"\n  tlsSANs: [controller.test]\n")
	var logs testutil.LockedBuffer
	d, err := New(cfg, slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if d.K3s == nil {
		t.Fatal("no k3s server")
	}
	if j := k3sJoin(d.K3s)(); j.ServerURL != "https://127.0.0.1:6443" || len(j.Token) != 64 {
		t.Errorf("join data %+v", j)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if b, _ := os.ReadFile(args); len(b) > 0 {
			if want := "server --config " + filepath.Join(cfg.StateDir, "k3s", "config.yaml") + "\n"; string(b) != want {
				t.Errorf("k3s arguments %q, want %q", b, want)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("k3s server never started:\n%s", logs.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run: %v", err)
	}
	if !strings.Contains(logs.String(), "child=k3s-server") {
		t.Errorf("the k3s child is not in the controller log:\n%s", logs.String())
	}
}

func TestMissingK3sBinaryFailsAtStartSayingWhatToDo(t *testing.T) {
	_, err := New(testConfig(t, "k3s:\n  binary: /nonexistent/k3s\n"), slog.New(slog.DiscardHandler))
	if err == nil || !strings.Contains(err.Error(), "remove k3s.binary") {
		t.Errorf("err = %v", err)
	}
}
