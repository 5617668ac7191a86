package pid1

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"

	"corral.io/corral/internal/supervise"
)

func TestActionFor(t *testing.T) {
	for _, tc := range []struct {
		sig  os.Signal
		want Action
		ok   bool
	}{
		{syscall.SIGTERM, Reboot, true},
		{syscall.SIGINT, Reboot, true}, // Ctrl-Alt-Del after CAD_OFF
		{syscall.SIGUSR1, Halt, true},
		{syscall.SIGUSR2, Poweroff, true},
		{syscall.SIGHUP, 0, false},
		{syscall.SIGCHLD, 0, false}, // the reaper's
	} {
		got, ok := ActionFor(tc.sig)
		if got != tc.want || ok != tc.ok {
			t.Errorf("ActionFor(%v) = %v, %v; want %v, %v", tc.sig, got, ok, tc.want, tc.ok)
		}
	}
	for a, cmd := range map[Action]int{Reboot: unix.LINUX_REBOOT_CMD_RESTART, Poweroff: unix.LINUX_REBOOT_CMD_POWER_OFF, Halt: unix.LINUX_REBOOT_CMD_HALT} {
		if a.rebootCmd() != cmd {
			t.Errorf("%v: reboot command %#x, want %#x", a, a.rebootCmd(), cmd)
		}
	}
}

func TestUnmountOrder(t *testing.T) {
	table := []Mount{
		{Point: "/"}, {Point: "/proc"}, {Point: "/sys"}, {Point: "/dev"}, {Point: "/dev/pts"}, {Point: "/run"},
		{Point: "/run/corral/lower"}, {Point: "/run/corral/rw"},
		{Point: "/sys/fs/cgroup"}, {Point: "/proc/sys/fs/binfmt_misc"},
		{Point: "/var/lib/rancher"}, {Point: "/var/lib/rancher/k3s/pods/x"}, {Point: "/mnt/data"},
	}
	got := UnmountOrder(table)
	want := []string{"/mnt/data", "/var/lib/rancher/k3s/pods/x", "/var/lib/rancher"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("unmount order (-want +got):\n%s", diff)
	}
}

// fakeSys records the calls Shutdown makes.
type fakeSys struct {
	calls    []string
	others   int // processes left; SIGTERM leaves stubborn of them
	stubborn int
	mountErr error
}

func (f *fakeSys) KillAll(sig unix.Signal) error {
	f.calls = append(f.calls, "kill "+unix.SignalName(sig))
	if sig == unix.SIGTERM {
		f.others = f.stubborn
	} else {
		f.others = 0
	}
	return nil
}
func (f *fakeSys) Others() int { return f.others }
func (f *fakeSys) Sync()       { f.calls = append(f.calls, "sync") }
func (f *fakeSys) Mounts() ([]Mount, error) {
	return []Mount{{Point: "/"}, {Point: "/proc"}, {Point: "/data"}}, f.mountErr
}
func (f *fakeSys) Unmount(p string) error {
	f.calls = append(f.calls, "umount "+p)
	return nil
}
func (f *fakeSys) RemountRootReadOnly() error {
	f.calls = append(f.calls, "remount / ro")
	return nil
}
func (f *fakeSys) Reboot(cmd int) error {
	f.calls = append(f.calls, fmt.Sprintf("reboot %#x", cmd))
	return errors.New("fake")
}

func TestShutdownTerminatesSyncsUnmountsThenReboots(t *testing.T) {
	for _, tc := range []struct {
		name     string
		action   Action
		stubborn int
		want     []string
	}{
		{"everything exits on SIGTERM", Poweroff, 0, []string{"kill SIGTERM", "sync", "umount /data", "remount / ro", "sync", "reboot 0x4321fedc"}},
		{"stubborn processes are killed", Reboot, 2, []string{"kill SIGTERM", "kill SIGKILL", "sync", "umount /data", "remount / ro", "sync", "reboot 0x1234567"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &fakeSys{others: 3, stubborn: tc.stubborn}
			s := &Shutdown{Grace: 50 * time.Millisecond, Sys: f}
			err := s.Run(tc.action)
			if err == nil || !strings.Contains(err.Error(), "fake") {
				t.Errorf("err = %v, want reboot's", err)
			}
			if diff := cmp.Diff(tc.want, f.calls); diff != "" {
				t.Errorf("calls (-want +got):\n%s", diff)
			}
		})
	}
}

func TestUserProcess(t *testing.T) {
	for stat, want := range map[string]bool{
		"1 (systemd) S 0 1 1 0 -1 4194560 1 2 3":    true,
		"2 (kthreadd) S 0 0 0 0 -1 2129984 0 0 0":   false, // PF_KTHREAD
		"77 (a (b) c) R 1 77 77 0 -1 4194304 0 0 0": true,
		"78 (sleep) Z 1 78 78 0 -1 4194308 0 0 0":   false,
		"garbage":   false,
		"9 (x) S 1": false,
	} {
		if got := userProcess(stat); got != want {
			t.Errorf("userProcess(%q) = %v, want %v", stat, got, want)
		}
	}
}

// killingSys is fakeSys whose KillAll signals the pids a test started, as
// kill(-1) would.
type killingSys struct {
	fakeSys
	mu     sync.Mutex
	pids   func() []int
	killed int
}

func (k *killingSys) KillAll(sig unix.Signal) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	for _, pid := range k.pids() {
		if unix.Kill(pid, sig) == nil {
			k.killed++
		}
	}
	return k.fakeSys.KillAll(sig)
}

func TestShutdownRunsBeforeFirst(t *testing.T) {
	f := &fakeSys{others: 1}
	s := &Shutdown{Grace: 50 * time.Millisecond, Sys: f, Before: func(ctx context.Context) {
		f.calls = append(f.calls, "before")
	}}
	_ = s.Run(Reboot)
	if len(f.calls) < 2 || f.calls[0] != "before" || f.calls[1] != "kill SIGTERM" {
		t.Errorf("calls = %q, want before first, then kill SIGTERM", f.calls)
	}
}

func TestShutdownBeforeIsBounded(t *testing.T) {
	f := &fakeSys{others: 1}
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	s := &Shutdown{Grace: 50 * time.Millisecond, Sys: f, BeforeTimeout: 100 * time.Millisecond,
		Before: func(ctx context.Context) { <-release }}
	start := time.Now()
	_ = s.Run(Reboot)
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("shutdown took %v with a stuck Before; want about BeforeTimeout", took)
	}
	if len(f.calls) == 0 || f.calls[0] != "kill SIGTERM" {
		t.Errorf("calls = %q, want the kill to go on after BeforeTimeout", f.calls)
	}
}

// A supervised child (k3s under the agent) must not come back while
// Shutdown kills everything: Before cancels its supervisor and waits.
func TestShutdownDoesNotFightASupervisor(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	var mu sync.Mutex
	var pids []int
	starts := 0
	sup := supervise.New(supervise.Options{
		Name: "child", Path: "/bin/sleep", Args: []string{"600"},
		Initial: 10 * time.Millisecond, Max: 20 * time.Millisecond, Grace: 2 * time.Second,
		Observe: func(e supervise.Event) {
			if e.Type == supervise.Started {
				mu.Lock()
				pids = append(pids, e.PID)
				starts++
				mu.Unlock()
			}
		},
	})
	done := make(chan error, 1)
	go func() { done <- sup.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	for deadline := time.Now().Add(5 * time.Second); ; {
		mu.Lock()
		n := starts
		mu.Unlock()
		if n > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the supervised child never started")
		}
		time.Sleep(10 * time.Millisecond)
	}
	k := &killingSys{pids: func() []int { mu.Lock(); defer mu.Unlock(); return slices.Clone(pids) }}
	s := &Shutdown{Grace: 50 * time.Millisecond, Sys: k, Before: func(bctx context.Context) {
		cancel()
		select {
		case <-done:
			done <- nil // for Cleanup
		case <-bctx.Done():
		}
	}}
	_ = s.Run(Reboot)
	time.Sleep(200 * time.Millisecond) // a restart would come after 10–20 ms
	mu.Lock()
	defer mu.Unlock()
	if starts != 1 {
		t.Errorf("the supervised child started %d times; want once: it was restarted during shutdown", starts)
	}
}
