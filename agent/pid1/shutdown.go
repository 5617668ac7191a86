package pid1

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Action is how PID 1 ends the machine.
type Action int

// The actions, as reboot(2) commands.
const (
	Reboot Action = iota + 1
	Poweroff
	Halt
)

func (a Action) String() string {
	switch a {
	case Reboot:
		return "reboot"
	case Poweroff:
		return "poweroff"
	case Halt:
		return "halt"
	}
	return "action(" + strconv.Itoa(int(a)) + ")"
}

// rebootCmd is the reboot(2) command of an action.
func (a Action) rebootCmd() int {
	switch a {
	case Poweroff:
		return unix.LINUX_REBOOT_CMD_POWER_OFF
	case Halt:
		return unix.LINUX_REBOOT_CMD_HALT
	}
	return unix.LINUX_REBOOT_CMD_RESTART
}

// SignalActions are the signals PID 1 obeys, as sysvinit and systemd do:
// SIGTERM reboots (what `kill 1` and many tools send), SIGINT reboots (the
// kernel sends it on Ctrl-Alt-Del once [DisableCtrlAltDel] ran), SIGUSR1
// halts and SIGUSR2 powers off (busybox init's convention).
var SignalActions = map[os.Signal]Action{
	unix.SIGTERM: Reboot,
	unix.SIGINT:  Reboot,
	unix.SIGUSR1: Halt,
	unix.SIGUSR2: Poweroff,
}

// ActionFor returns what a signal asks PID 1 to do.
func ActionFor(sig os.Signal) (Action, bool) {
	a, ok := SignalActions[sig]
	return a, ok
}

// DisableCtrlAltDel makes the kernel send SIGINT to PID 1 on Ctrl-Alt-Del
// instead of rebooting at once (reboot(2) LINUX_REBOOT_CMD_CAD_OFF), so the
// reboot goes through Shutdown.
func DisableCtrlAltDel() error {
	if err := unix.Reboot(unix.LINUX_REBOOT_CMD_CAD_OFF); err != nil {
		return fmt.Errorf("reboot(CAD_OFF): %w", err)
	}
	return nil
}

// Shutdown ends the machine the way an init does: Before runs first (the
// agent stops what it supervises and ships its log), then every other
// process is sent SIGTERM, given Grace to exit, then SIGKILL; buffers are
// synced, every filesystem but the essential ones is unmounted and /
// remounted read-only, and reboot(2) is called.
type Shutdown struct {
	// Grace is how long processes get to exit after SIGTERM; default 10 s.
	Grace  time.Duration
	Logger *slog.Logger
	// Before, when set, runs before any process is signalled, with a
	// context that ends after BeforeTimeout. It must stop whatever would
	// restart a process Shutdown kills (a supervisor: cancel its context
	// and wait for it) and flush what should outlive the machine (the log
	// shipper). Shutdown goes on when the context ends even if Before has
	// not returned.
	Before func(ctx context.Context)
	// BeforeTimeout bounds Before; default 40 s (a supervised child's
	// grace, 30 s, and a log flush).
	BeforeTimeout time.Duration
	// Sys reaches the kernel; nil uses the real one.
	Sys ShutdownSys
}

// ShutdownSys are the system calls Shutdown makes (tests replace them).
type ShutdownSys interface {
	// KillAll signals every process but PID 1 (kill(-1, sig)).
	KillAll(sig unix.Signal) error
	// Others counts the user processes left besides the caller.
	Others() int
	Sync()
	// Mounts returns the mount table.
	Mounts() ([]Mount, error)
	Unmount(point string) error
	RemountRootReadOnly() error
	Reboot(cmd int) error
}

// Run does the action; it returns only when reboot(2) fails.
func (s *Shutdown) Run(a Action) error {
	log := s.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	sys := s.Sys
	if sys == nil {
		sys = kernelSys{}
	}
	grace := s.Grace
	if grace <= 0 {
		grace = 10 * time.Second
	}
	if s.Before != nil {
		s.runBefore(log, a)
	}
	log.Info("shutting down: terminating every process", "action", a.String(), "grace", grace.String())
	_ = sys.KillAll(unix.SIGTERM)
	deadline := time.Now().Add(grace)
	for sys.Others() > 0 && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	if n := sys.Others(); n > 0 {
		log.Warn("processes left after the grace period: killing them", "count", n)
		_ = sys.KillAll(unix.SIGKILL)
		time.Sleep(200 * time.Millisecond)
	}
	sys.Sync()
	if table, err := sys.Mounts(); err != nil {
		log.Error("read the mount table: unmounting nothing", "err", err)
	} else {
		for _, p := range UnmountOrder(table) {
			if err := sys.Unmount(p); err != nil {
				log.Warn("unmount", "point", p, "err", err)
			}
		}
	}
	if err := sys.RemountRootReadOnly(); err != nil {
		log.Warn("remount / read-only", "err", err)
	}
	sys.Sync()
	log.Info("shutdown: "+a.String(), "action", a.String())
	return sys.Reboot(a.rebootCmd())
}

// runBefore runs Before, waiting at most BeforeTimeout for it.
func (s *Shutdown) runBefore(log *slog.Logger, a Action) {
	timeout := s.BeforeTimeout
	if timeout <= 0 {
		timeout = 40 * time.Second
	}
	log.Info("shutting down: stopping the agent's services", "action", a.String(), "timeout", timeout.String())
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.Before(ctx)
	}()
	select {
	case <-done:
	case <-ctx.Done():
		<-time.After(100 * time.Millisecond) // Before may still be returning
		select {
		case <-done:
		default:
			log.Warn("the agent's services did not stop in time: terminating every process anyway", "timeout", timeout.String())
		}
	}
}

// keptMounted are left mounted at shutdown: the kernel's own filesystems
// and /, which is remounted read-only instead.
var keptMounted = []string{"/", "/proc", "/sys", "/dev", "/dev/pts", "/run"}

// UnmountOrder returns the mount points to unmount at shutdown, deepest
// (last mounted) first, without those the kernel and the agent still need
// (/, /proc, /sys, /dev, /run and what is under them: the root overlay's layers are under /run).
func UnmountOrder(table []Mount) []string {
	var out []string
	for i := len(table) - 1; i >= 0; i-- {
		p := table[i].Point
		if slices.Contains(keptMounted, p) || under(p, "/proc") || under(p, "/sys") || under(p, "/dev") || under(p, "/run") || slices.Contains(out, p) {
			continue
		}
		out = append(out, p)
	}
	return out
}

func under(p, dir string) bool { return strings.HasPrefix(p, dir+"/") }

// HandleSignals runs shutdown when PID 1 receives one of SignalActions,
// until ctx is done. It first disables Ctrl-Alt-Del's immediate reboot.
func HandleSignals(ctx context.Context, s *Shutdown) {
	if err := DisableCtrlAltDel(); err != nil && s.Logger != nil {
		s.Logger.Warn("Ctrl-Alt-Del will reboot at once, without a clean shutdown", "err", err)
	}
	ch, stop := NotifyShutdownSignals()
	defer stop()
	s.Handle(ctx, ch)
}

// NotifyShutdownSignals starts catching SignalActions' signals (from then
// on they no longer kill the process) and returns their channel and a
// function that stops catching them.
func NotifyShutdownSignals() (<-chan os.Signal, func()) {
	sigs := make([]os.Signal, 0, len(SignalActions))
	for sig := range SignalActions {
		sigs = append(sigs, sig)
	}
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, sigs...)
	return ch, func() { signal.Stop(ch) }
}

// Handle waits for a signal on ch and runs its action; it returns when ctx
// is done or when reboot(2) failed.
func (s *Shutdown) Handle(ctx context.Context, ch <-chan os.Signal) {
	log := s.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	select {
	case <-ctx.Done():
	case sig := <-ch:
		a, _ := ActionFor(sig)
		log.Info("signal received", "signal", sig.String(), "action", a.String())
		if err := s.Run(a); err != nil {
			log.Error("reboot(2) failed: the machine stays up", "action", a.String(), "err", err)
		}
	}
}

type kernelSys struct{}

func (kernelSys) KillAll(sig unix.Signal) error { return unix.Kill(-1, sig) }

// Others counts the processes other than the caller that a signal can
// end: not kernel threads (PF_KTHREAD), not zombies.
func (kernelSys) Others() int {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return 0
	}
	self := os.Getpid()
	n := 0
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == self {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err == nil && userProcess(string(b)) {
			n++
		}
	}
	return n
}

// pfKthread is the kernel's PF_KTHREAD task flag.
const pfKthread = 0x00200000

// userProcess reads /proc/<pid>/stat: "pid (comm) state ppid pgrp session
// tty_nr tpgid flags ...", comm possibly holding spaces and parentheses.
func userProcess(stat string) bool {
	i := strings.LastIndexByte(stat, ')')
	if i < 0 {
		return false
	}
	f := strings.Fields(stat[i+1:])
	if len(f) < 7 || f[0] == "Z" || f[0] == "X" {
		return false
	}
	flags, err := strconv.ParseUint(f[6], 10, 64)
	return err == nil && flags&pfKthread == 0
}

func (kernelSys) Sync() { unix.Sync() }

func (kernelSys) Mounts() ([]Mount, error) {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	return ParseMountinfo(b)
}

func (kernelSys) Unmount(p string) error {
	err := unix.Unmount(p, 0)
	if errors.Is(err, unix.EBUSY) {
		err = unix.Unmount(p, unix.MNT_DETACH)
	}
	return err
}

func (kernelSys) RemountRootReadOnly() error {
	return unix.Mount("", "/", "", unix.MS_REMOUNT|unix.MS_RDONLY, "")
}

func (kernelSys) Reboot(cmd int) error { return unix.Reboot(cmd) }
