package pid1

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// helperEnv makes the test binary act as PID 1 of a new PID namespace
// (TestPID1Helper) instead of running tests.
const helperEnv = "CORRAL_PID1_HELPER"

// TestSignalsShutDownAPIDNamespace runs Shutdown for real: the helper is
// PID 1 of its own PID namespace, with a child that ignores SIGTERM. In a
// PID namespace reboot(2) ends the namespace instead of the machine, its
// init dying of SIGHUP for a restart and SIGINT for a power-off or halt
// (pid_namespaces(7)), which is what this test sees. Mounts are left alone
// (the helper's ShutdownSys), since the helper's root is the host's.
func TestSignalsShutDownAPIDNamespace(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("a PID namespace needs root")
	}
	for _, tc := range []struct {
		sig  syscall.Signal
		want syscall.Signal
	}{
		{syscall.SIGTERM, syscall.SIGHUP}, // reboot
		{syscall.SIGINT, syscall.SIGHUP},  // Ctrl-Alt-Del: reboot
		{syscall.SIGUSR2, syscall.SIGINT}, // power off
		{syscall.SIGUSR1, syscall.SIGINT}, // halt
	} {
		t.Run(tc.sig.String(), func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run=^TestPID1Helper$", "-test.v")
			cmd.Env = append(os.Environ(), helperEnv+"=1")
			cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWPID | syscall.CLONE_NEWNS, Pdeathsig: syscall.SIGKILL}
			var stderr strings.Builder
			cmd.Stderr = &stderr
			out, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
			ready := make(chan struct{})
			var lines strings.Builder
			go func() {
				sc := bufio.NewScanner(out)
				for sc.Scan() {
					lines.WriteString(sc.Text() + "\n")
					if sc.Text() == "ready" {
						close(ready)
					}
				}
			}()
			select {
			case <-ready:
			case <-time.After(20 * time.Second):
				t.Fatalf("helper not ready:\n%s%s", lines.String(), stderr.String())
			}
			if err := cmd.Process.Signal(tc.sig); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			select {
			case err = <-done:
			case <-time.After(20 * time.Second):
				t.Fatalf("helper did not end after %v:\n%s", tc.sig, stderr.String())
			}
			var ee *exec.ExitError
			if !errors.As(err, &ee) {
				t.Fatalf("helper ended with %v, want death by %v:\n%s", err, tc.want, stderr.String())
			}
			ws := ee.Sys().(syscall.WaitStatus)
			if !ws.Signaled() || ws.Signal() != tc.want {
				t.Fatalf("helper ended with %v, want death by %v (reboot(2) in a PID namespace):\n%s", ee, tc.want, stderr.String())
			}
			for _, want := range []string{"signal received", "killing them", "shutdown: "} {
				if !strings.Contains(stderr.String(), want) {
					t.Errorf("helper log lacks %q:\n%s", want, stderr.String())
				}
			}
		})
	}
}

// noMounts leaves the mounts alone: the helper shares the host's root.
type noMounts struct{ kernelSys }

func (noMounts) Mounts() ([]Mount, error)   { return nil, nil }
func (noMounts) RemountRootReadOnly() error { return nil }

func TestPID1Helper(t *testing.T) {
	if os.Getenv(helperEnv) == "" {
		t.Skip("run by TestSignalsShutDownAPIDNamespace")
	}
	if os.Getpid() != 1 {
		t.Fatalf("helper is pid %d, not 1", os.Getpid())
	}
	// This namespace's processes in /proc, without touching the host's.
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount("proc", "/proc", "proc", 0, ""); err != nil {
		t.Fatal(err)
	}
	// A child that ignores SIGTERM (the disposition survives exec), ready
	// once it said so.
	stubborn := exec.Command("sh", "-c", "trap '' TERM; echo ignoring; exec sleep 1000")
	said, err := stubborn.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := stubborn.Start(); err != nil {
		t.Fatal(err)
	}
	if line, err := bufio.NewReader(said).ReadString('\n'); err != nil || line != "ignoring\n" {
		t.Fatalf("stubborn child: %q %v", line, err)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	s := &Shutdown{Grace: 300 * time.Millisecond, Logger: log, Sys: noMounts{}}
	ch, stop := NotifyShutdownSignals()
	defer stop()
	fmt.Println("ready")
	s.Handle(context.Background(), ch)
	t.Fatal("still alive after the shutdown")
}
