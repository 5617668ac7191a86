package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"corral.io/corral/internal/testnet"
)

// TestMain lets a test start this very binary as the corral command, so the
// daemon can be killed with SIGKILL and restarted like the real thing.
func TestMain(m *testing.M) {
	if args := os.Getenv("CORRAL_TEST_MAIN_ARGS"); args != "" {
		os.Args = append([]string{"corral"}, strings.Split(args, "\x1f")...)
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// startCorral runs `corral <args>` inside ns, logging to logFile.
func startCorral(t *testing.T, ns *testnet.NS, logFile string, args ...string) *exec.Cmd {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := ns.Command(context.Background(), self)
	cmd.Env = append(os.Environ(), "CORRAL_TEST_MAIN_ARGS="+strings.Join(args, "\x1f"))
	f, err := os.OpenFile(logFile, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	return cmd
}

func writeConfig(t *testing.T, dir string) string {
	t.Helper()
	cfg := fmt.Sprintf(`apiVersion: corral.io/v1alpha1
kind: ControllerConfig
stateDir: %s
interface: prov0
dhcp:
  subnet: 10.10.0.0/24
  rangeStart: 10.10.0.100
  rangeEnd: 10.10.0.110
  leaseTime: 1h
http:
  listen: ":8080"
`, filepath.Join(dir, "state"))
	path := filepath.Join(dir, "controller.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// udhcpc asks for a lease (requesting want when set) and returns the address
// it was bound to.
func udhcpc(t *testing.T, ns *testnet.NS, want string) string {
	t.Helper()
	dir := t.TempDir()
	script := filepath.Join(dir, "hook.sh")
	out := filepath.Join(dir, "ip")
	if err := os.WriteFile(script, []byte("#!/bin/sh\n[ \"$1\" = bound ] && echo \"$ip\" > "+out+"\nexit 0\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	args := []string{"udhcpc", "-i", "eth0", "-f", "-q", "-n", "-t", "20", "-T", "1", "-s", script}
	if want != "" {
		args = append(args, "-r", want)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if b, err := ns.Command(ctx, "busybox", args...).CombinedOutput(); err != nil {
		t.Fatalf("udhcpc: %v\n%s", err, b)
	}
	ip, err := os.ReadFile(out)
	if err != nil {
		t.Fatalf("udhcpc was not bound: %v", err)
	}
	return strings.TrimSpace(string(ip))
}

// TestLeaseSurvivesKill9 acknowledges a lease, kills the controller with
// SIGKILL, restarts it, and checks the address is still held: another machine
// asking for it gets a different one, the owner gets it back.
func TestLeaseSurvivesKill9(t *testing.T) {
	testnet.RequireCommands(t, "busybox")
	srv, cli := testnet.New(t, "ksrv"), testnet.New(t, "kcli")
	testnet.Veth(t, srv, "prov0", "10.10.0.1/24", cli, "eth0", "")
	dir := t.TempDir()
	cfg := writeConfig(t, dir)
	logFile := filepath.Join(dir, "controller.log")
	t.Cleanup(func() {
		if t.Failed() {
			b, _ := os.ReadFile(logFile)
			t.Logf("controller log:\n%s", b)
		}
	})

	first := startCorral(t, srv, logFile, "controller", "--config", cfg)
	owner := cli.HardwareAddr("eth0").String()
	held := udhcpc(t, cli, "")

	if err := first.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = first.Wait()
	startCorral(t, srv, logFile, "controller", "--config", cfg)

	cli.MustIP("link", "set", "eth0", "address", "52:54:00:99:99:99")
	if other := udhcpc(t, cli, held); other == held {
		t.Fatalf("after kill -9 and restart, %s was given to a second machine", held)
	}
	cli.MustIP("link", "set", "eth0", "address", owner)
	if again := udhcpc(t, cli, ""); again != held {
		t.Errorf("after kill -9 and restart the owner got %s, want its lease %s", again, held)
	}
}

// TestBadConfigIsRefusedNamingTheField starts the controller with wrong values.
func TestBadConfigIsRefusedNamingTheField(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "bad.yaml")
	bad := "apiVersion: corral.io/v1alpha1\nkind: ControllerConfig\ninterface: eth9\ndhcp:\n  subnet: 10.0.0.0/24\n  rangeStart: 10.0.1.5\n  rangeEnd: 10.0.0.9\n"
	if err := os.WriteFile(path, []byte(bad), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := newRoot()
	cmd.SetArgs([]string{"controller", "--config", path})
	err := cmd.Execute()
	if err == nil || !strings.Contains(err.Error(), "dhcp.rangeStart: is 10.0.1.5, which is outside dhcp.subnet 10.0.0.0/24") {
		t.Errorf("err = %v; want it to name dhcp.rangeStart and the subnet", err)
	}
}
