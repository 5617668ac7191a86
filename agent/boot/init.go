package boot

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"time"

	"corral.io/corral/agent/logship"
	"corral.io/corral/agent/pid1"
	"corral.io/corral/agent/rootfs"
	"corral.io/corral/internal/backoff"
)

// runInit brings the node up and enrols it, forever.
func runInit(ctx context.Context, f runFlags, stage int, out io.Writer) error {
	// PID 1 ends the machine on a signal (pid1.HandleSignals), never by
	// returning: the kernel panics when init exits. The agent's own work
	// (network, rootfs, enrolment, k3s) runs under runCtx, which shutdown
	// cancels before it signals every process, so that k3s' supervisor
	// stops instead of restarting k3s while the machine goes down.
	base := context.WithoutCancel(ctx)
	runCtx, stopRun := context.WithCancel(base)
	defer stopRun()
	stopped := make(chan struct{}) // closed when the work under runCtx has returned
	// Everything logged this boot also goes to the controller (logship),
	// from here to enrolment and beyond, across switch_root via a spool
	// in /run.
	console := slog.NewTextHandler(out, nil)
	f.logs = logship.New(logship.Options{Console: console})
	go func() { _ = f.logs.Run(base) }()
	log := slog.New(f.logs.Handler(console)).With("svc", "init")
	log.Info("corral-agent starting as init", "pid", os.Getpid(), "stage", stage)
	if mounted, err := pid1.MountEssentials(pid1.MountOptions{Logger: log}); err != nil {
		log.Error("mount essential filesystems", "err", err, "mounted", mounted)
	}
	if err := f.logs.Spool(logship.SpoolFile); err != nil {
		log.Warn("log spool in /run unusable: lines logged before switch_root may not reach the controller", "err", err)
	}
	reaper := &pid1.Reaper{Logger: log}
	go func() { _ = reaper.Run(base) }()
	shutdown := &pid1.Shutdown{Logger: log, Before: stopAgent(stopRun, stopped, f.logs, log)}
	if os.Getpid() == 1 {
		go pid1.HandleSignals(base, shutdown)
	}
	err := bringUp(runCtx, f, stage, reaper, out, log)
	close(stopped)
	if errors.Is(err, rootfs.ErrInitramfsGone) {
		// Nothing is left to run: say so where it is seen (console,
		// controller), then start over.
		log.Error("SWITCH_ROOT FAILED AFTER THE INITRAMFS WAS DELETED: this node cannot go on; rebooting",
			"err", err, "wait", fatalRebootDelay.String())
		_ = backoff.Sleep(base, fatalRebootDelay)
		if os.Getpid() == 1 {
			err = shutdown.Run(pid1.Reboot)
			log.Error("reboot(2) failed: the node is stuck; power-cycle it", "err", err)
		}
	}
	if os.Getpid() == 1 {
		// Only shutdown cancels runCtx; it is rebooting the machine.
		<-make(chan struct{})
	}
	return err
}

// fatalRebootDelay is how long init waits before rebooting after a fatal
// error, so the line is read on the console and shipped to the controller.
const fatalRebootDelay = 30 * time.Second

// stopAgent is shutdown's first step (pid1.Shutdown.Before): stop the
// agent's work — the enrolment loop and k3s' supervisor, which would
// otherwise restart k3s as soon as shutdown terminates it — wait for it
// to return, then send the controller what is left of the log, the
// shutdown's own lines included.
func stopAgent(stopRun context.CancelFunc, stopped <-chan struct{}, logs *logship.Shipper, log *slog.Logger) func(context.Context) {
	return func(ctx context.Context) {
		stopRun()
		select {
		case <-stopped:
			log.Info("agent stopped")
		case <-ctx.Done():
			log.Warn("agent not stopped in time: shutting down anyway")
		}
		fctx, cancel := context.WithTimeout(ctx, logship.FlushTimeout)
		defer cancel()
		if err := logs.Flush(fctx); err != nil && !errors.Is(err, logship.ErrNotReady) {
			log.Warn("logs not shipped to the controller", "err", err)
		}
	}
}

// bringUp is init's work until runCtx ends: network, root filesystem,
// enrolment (in stage 1 until switch_root).
func bringUp(ctx context.Context, f runFlags, stage int, reaper *pid1.Reaper, out io.Writer, log *slog.Logger) error {
	if stage == 2 {
		return stage2(ctx, f, reaper, out, log)
	}
	return stage1(ctx, f, reaper, out, log)
}

// enrolForever enrols as "corral-agent run" does, and again after a
// failure: PID 1 must not exit.
func enrolForever(ctx context.Context, f runFlags, reaper *pid1.Reaper, addrs *addressWatch, out io.Writer, log *slog.Logger) error {
	f.cmdline = "/proc/cmdline"
	d := initDeps(reaper)
	d.addresses = addrs
	for attempt := 1; ; attempt++ {
		err := runAgent(ctx, f, d, out)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		// PID 1 must not exit; a node refused by the controller stays up
		// and says so, so an operator can see it on the console.
		wait := 5 * time.Minute
		if err != nil {
			log.Error("enrollment stopped: retrying", "err", err, "attempt", attempt, "wait", wait.String())
		}
		if backoff.Sleep(ctx, wait) != nil {
			return ctx.Err()
		}
	}
}

// initDeps are runAgent's dependencies under init: it sets the hostname,
// and k3s' supervisor learns k3s' exits from the reaper, which takes every
// child of PID 1 (exec.Cmd.Wait would fail with "no child processes" and
// lose the exit status).
func initDeps(reaper *pid1.Reaper) runDeps {
	d := hostDeps()
	d.pid = 1
	d.k3s.Supervise.Exited = reaper.Exited
	return d
}
