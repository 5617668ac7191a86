package main

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"

	"corral.io/corral/agent/enroll"
	"corral.io/corral/agent/netup"
	"corral.io/corral/agent/pid1"
)

func newInitCmd() *cobra.Command {
	var f runFlags
	cmd := &cobra.Command{
		Use:   "init",
		Short: "Run as the node's init (PID 1) in the initramfs: bring the node up and enrol it",
		Long: `Run as the first process of a network-booted node. In order: mount /proc,
/sys, /dev and /run; reap orphaned processes; load the kernel modules the
image carries (every module in /lib/modules/<release>/modules.dep); bring up
the boot NIC named by BOOTIF= (or the first physical NIC that gets a DHCP
lease); then enrol exactly as "corral-agent run" does, with the controller and
CA fingerprint from corral.api= and corral.ca=, and set the hostname.

Every step logs to the console and retries with backoff, saying what it
waits for; init never exits, because the kernel panics when PID 1 does.
The initramfs runs this verb when the kernel starts /init (the agent binary)
as PID 1 with no arguments.`,
		Example: `  # from the kernel, as /init (no arguments): the same as
  corral-agent init`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runInit(cmd.Context(), f, cmd.ErrOrStderr())
		},
	}
	cmd.Flags().BoolVarP(&f.verbose, "verbose", "v", false, "log debug records")
	return cmd
}

// runInit brings the node up and enrols it, forever.
func runInit(ctx context.Context, f runFlags, out io.Writer) error {
	log := slog.New(slog.NewTextHandler(out, nil)).With("svc", "init")
	log.Info("corral-agent starting as init", "pid", os.Getpid())
	if mounted, err := pid1.MountEssentials(pid1.MountOptions{Logger: log}); err != nil {
		log.Error("mount essential filesystems", "err", err, "mounted", mounted)
	}
	reaper := &pid1.Reaper{Logger: log}
	go func() { _ = reaper.Run(ctx) }()
	loadImageModules(log)

	cmdline, err := os.ReadFile("/proc/cmdline")
	if err != nil {
		log.Error("read the kernel command line", "err", err)
	}
	mac, err := netup.BootMAC(string(cmdline))
	if err != nil {
		log.Warn("no usable BOOTIF= on the kernel command line: trying every physical NIC", "err", err)
		mac = nil
	}
	backoff := enroll.Backoff{Initial: 2 * time.Second, Max: 30 * time.Second}
	for attempt := 1; ; attempt++ {
		res, err := netup.Up(ctx, netup.Config{BootMAC: mac, Logger: log.With("step", "netup")})
		if err == nil {
			log.Info("network up", "iface", res.Iface, "ip", res.Addr().String(), "server", res.Server().String())
			break
		}
		wait := backoff.Delay(attempt, 0.5)
		log.Error("network not up yet: retrying", "err", err, "attempt", attempt, "wait", wait.String())
		if sleep(ctx, wait) != nil {
			return ctx.Err()
		}
	}

	f.cmdline = "/proc/cmdline"
	d := hostDeps()
	d.pid = 1 // set the hostname: this is the node's init
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
		if sleep(ctx, wait) != nil {
			return ctx.Err()
		}
	}
}

// loadImageModules loads every module the image put in the initramfs.
func loadImageModules(log *slog.Logger) {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		log.Error("uname", "err", err)
		return
	}
	dir := filepath.Join("/lib/modules", unix.ByteSliceToString(u.Release[:]))
	b, err := os.ReadFile(filepath.Join(dir, "modules.dep"))
	if err != nil {
		log.Warn("no kernel modules in this image", "dir", dir, "err", err)
		return
	}
	dep, err := pid1.ParseModulesDep(b)
	if err != nil {
		log.Error("modules.dep", "err", err)
		return
	}
	names := make([]string, 0, len(dep))
	for n := range dep {
		names = append(names, n)
	}
	rep, err := pid1.LoadModules(pid1.ModuleOptions{Names: names, Dir: dir, Logger: log})
	log.Info("kernel modules", "loaded", len(rep.Loaded), "present", len(rep.Present), "missing", len(rep.Missing))
	if err != nil {
		log.Error("load kernel modules", "err", err)
	}
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
