package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"

	"corral.io/corral/agent/enroll"
	"corral.io/corral/agent/inventory"
	"corral.io/corral/agent/logship"
	"corral.io/corral/agent/netup"
	"corral.io/corral/agent/pid1"
	"corral.io/corral/agent/rootfs"
	"corral.io/corral/api/client"
	api "corral.io/corral/api/v1alpha1"
	"corral.io/corral/internal/backoff"
)

func newInitCmd() *cobra.Command {
	var f runFlags
	var stage int
	cmd := &cobra.Command{
		Use:   "init",
		Short: "Run as the node's init (PID 1) in the initramfs: bring the node up and enrol it",
		Long: `Run as the first process of a network-booted node. In order: mount /proc,
/sys, /dev and /run; reap orphaned processes; load the kernel modules the
image carries (every module in /lib/modules/<release>/modules.dep); bring up
the boot NIC named by BOOTIF= (or the first physical NIC that gets a DHCP
lease) and keep renewing its lease (a new address rewrites k3s' node-ip and
restarts k3s agent); register with the controller at once, so
that this stage's log reaches it (corral nodes logs) even if it gets no
further; then, when the kernel command line names a root filesystem
(corral.rootfs=<http URL of rootfs.squashfs> corral.rootfs.sha256=<hex>),
download it into RAM, check its sha256, mount it read-only with a tmpfs
overlay, switch_root into it and run again from there as stage 2
(/usr/local/bin/corral-agent init --stage=2), the network staying up. Without
corral.rootfs= everything runs in the initramfs. Then enrol exactly as
"corral-agent run" does, with the controller and CA fingerprint from
corral.api= and corral.ca=, and set the hostname.

As PID 1 it reaps orphans and obeys signals: SIGTERM and SIGINT
(Ctrl-Alt-Del) reboot, SIGUSR2 powers off, SIGUSR1 halts, each after
stopping the agent's own work (k3s included) and sending the controller what
is left of the log, then terminating every process, syncing and unmounting.

Every step logs to the console and retries with backoff, saying what it
waits for; init never exits, because the kernel panics when PID 1 does.
The initramfs runs this verb when the kernel starts /init (the agent binary)
as PID 1 with no arguments.`,
		Example: `  # from the kernel, as /init (no arguments): the same as
  corral-agent init`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runInit(cmd.Context(), f, stage, cmd.ErrOrStderr())
		},
	}
	cmd.Flags().BoolVarP(&f.verbose, "verbose", "v", false, "log debug records")
	cmd.Flags().IntVar(&stage, "stage", 1, "1: in the initramfs; 2: exec'ed by stage 1 after switch_root into the root filesystem")
	_ = cmd.Flags().MarkHidden("stage")
	return cmd
}

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
		_ = sleep(base, fatalRebootDelay)
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
		h, err := rootfs.ReadHandover(rootfs.HandoverFile)
		if err != nil {
			log.Warn("no handover from stage 1: the network is as the kernel has it", "err", err)
		}
		log.Info(stage2Marker, "iface", h.Iface, "ip", h.Addr, "server", h.Server, "rootfs", h.RootfsURL, "loop", h.Loop, "modules", rootfsModules(),
			"mem_total_mib", meminfoMiB("MemTotal"), "mem_available_mib", meminfoMiB("MemAvailable"))
		addrs := &addressWatch{}
		if err == nil {
			renewHandedOver(ctx, h, addrs.changed, log.With("step", "dhcp"))
		}
		return enrolForever(ctx, f, reaper, addrs, out, log)
	}
	loadImageModules(log)

	f.cmdline = "/proc/cmdline"
	cmdline, err := os.ReadFile(f.cmdline)
	if err != nil {
		log.Error("read the kernel command line", "err", err)
	}
	mac, err := netup.BootMAC(string(cmdline))
	if err != nil {
		log.Warn("no usable BOOTIF= on the kernel command line: trying every physical NIC", "err", err)
		mac = nil
	}
	retry := backoff.Backoff{Initial: 2 * time.Second, Max: 30 * time.Second}
	var res *netup.Result
	for attempt := 1; ; attempt++ {
		res, err = netup.Up(ctx, netup.Config{BootMAC: mac, Logger: log.With("step", "netup")})
		if err == nil {
			log.Info("network up", "iface", res.Iface, "ip", res.Addr().String(), "server", res.Server().String())
			break
		}
		wait := retry.Delay(attempt, 0.5)
		log.Error("network not up yet: retrying", "err", err, "attempt", attempt, "wait", wait.String())
		if sleep(ctx, wait) != nil {
			return ctx.Err()
		}
	}

	// The lease must outlive this stage if it runs long (a root
	// filesystem that keeps failing): renew it; the handover carries the
	// latest to stage 2.
	var lease atomic.Pointer[netup.Lease]
	lease.Store(&res.Lease)
	addrs := &addressWatch{}
	go func() {
		err := netup.Renew(ctx, netup.RenewConfig{Link: res.Link, Lease: res.Lease, Logger: log.With("step", "dhcp"),
			OnLease: func(l netup.Lease, _ netup.Plan) { lease.Store(&l) }, OnAddressChange: addrs.changed})
		if err != nil {
			log.Error("DHCP lease not renewed: the controller will give the address to another machine when it expires", "err", err)
		}
	}()

	// Register now, so that this stage's log reaches the controller even
	// when it never gets further (a root filesystem that cannot be
	// downloaded); the enrolment loop registers again later.
	early, stopEarly := context.WithCancel(ctx)
	registered := make(chan struct{})
	go func() {
		defer close(registered)
		registerForLogs(early, f, f.logs, log.With("step", "register"))
	}()
	defer func() { stopEarly(); <-registered }()

	switch p, ok, err := rootfs.ParseCmdline(string(cmdline)); {
	case err != nil:
		log.Error("root filesystem parameters unusable: staying in the initramfs", "err", err)
	case ok:
		err := switchToRootfs(ctx, p, res, *lease.Load(), log.With("step", "rootfs"))
		if errors.Is(err, rootfs.ErrInitramfsGone) {
			return err
		}
		log.Error("root filesystem not switched to: staying in the initramfs", "err", err)
	}
	// The enrolment loop registers and hands the shipper its own token.
	stopEarly()
	<-registered
	return enrolForever(ctx, f, reaper, addrs, out, log)
}

// registerForLogs registers the node from stage 1 as soon as the network
// is up, so that the log shipper has a token and stage 1's lines — every
// failed root filesystem download among them — reach the controller
// (corral nodes logs) even when stage 2 never starts. Registration is
// idempotent: stage 2, or the enrolment loop in the initramfs, registers
// again and the controller maps it to the same node. It retries with
// backoff until it succeeds or ctx ends; what is logged meanwhile waits in
// the shipper's memory.
func registerForLogs(ctx context.Context, f runFlags, logs *logship.Shipper, log *slog.Logger) {
	boot := enroll.BootParams{}
	if f.api == "" || f.ca == "" {
		b, err := os.ReadFile(f.cmdline)
		if err != nil {
			log.Warn("kernel command line unreadable: this stage's log stays on the console until enrolment", "err", err)
			return
		}
		boot = enroll.ParseCmdline(string(b))
	}
	apiURL, fp := firstOf(f.api, boot.API), firstOf(f.ca, boot.CAFingerprint)
	if apiURL == "" || fp == "" {
		log.Warn("no " + api.KernelArgAPI + "= or " + api.KernelArgCA + "= on the kernel command line: this stage's log stays on the console until enrolment")
		return
	}
	c, err := client.New(apiURL, client.Trust{CAFingerprint: fp}, "")
	if err != nil {
		log.Warn("controller unusable: this stage's log stays on the console until enrolment", "err", err)
		return
	}
	opts, err := inventoryOptions(f, log)
	if err != nil {
		log.Warn("no inventory to register with", "err", err)
		return
	}
	logs.SetSender(logship.ClientSender(c))
	controller := logs.Tap(enroll.FromClient(c))
	inv := inventory.Collect(opts)
	retry := backoff.Backoff{Initial: 2 * time.Second, Max: 30 * time.Second}
	for attempt := 1; ; attempt++ {
		r, err := controller.Register(ctx, *inv, "")
		if err == nil {
			log.Info("registered from the initramfs: this boot's log goes to the controller", "node", r.NodeID, "state", r.State)
			return
		}
		if ctx.Err() != nil {
			return
		}
		wait := retry.Delay(attempt, rand.Float64())
		log.Warn("registration failed: retrying; the log waits in memory meanwhile", "err", err, "attempt", attempt, "wait", wait.String())
		if sleep(ctx, wait) != nil {
			return
		}
	}
}

// rootfsModules counts the kernel modules modprobe can load from the root
// filesystem (its modules.dep lines).
func rootfsModules() int {
	var u unix.Utsname
	if unix.Uname(&u) != nil {
		return 0
	}
	b, err := os.ReadFile(filepath.Join("/lib/modules", unix.ByteSliceToString(u.Release[:]), "modules.dep"))
	if err != nil {
		return 0
	}
	return bytes.Count(b, []byte("\n"))
}

// meminfoMiB reads a /proc/meminfo field in MiB; -1 when unreadable. The
// root filesystem lives in RAM, so stage 2 says what is left.
func meminfoMiB(field string) int64 {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			f := strings.Fields(v)
			if len(f) > 0 {
				if kb, err := strconv.ParseInt(f[0], 10, 64); err == nil {
					return kb / 1024
				}
			}
		}
	}
	return -1
}

// stage2Marker is logged when stage 2 starts; the QEMU lab waits for it.
const stage2Marker = "stage 2: running from the root filesystem"

// Where stage 1 puts the root filesystem: the download and the overlay's
// layers in /run (a tmpfs moved into the new root), the overlay on /newroot.
const (
	rootfsRunDir  = "/run/corral"
	rootfsNewRoot = "/newroot"
)

// switchToRootfs fetches, verifies and mounts the root filesystem and execs
// stage 2 in it. It returns only on failure.
func switchToRootfs(ctx context.Context, p rootfs.Params, res *netup.Result, lease netup.Lease, log *slog.Logger) error {
	img, err := rootfs.Fetch(ctx, rootfs.FetchConfig{Params: p, Dir: rootfsRunDir, Logger: log})
	if err != nil {
		return err
	}
	m, err := rootfs.Mount(rootfs.MountConfig{Image: img, Dir: rootfsRunDir, NewRoot: rootfsNewRoot, Logger: log})
	if err != nil {
		return errors.Join(err, removeImage(img))
	}
	// The resolver netup wrote, for stage 2.
	if b, err := os.ReadFile("/etc/resolv.conf"); err == nil {
		dst := filepath.Join(rootfsNewRoot, "etc/resolv.conf")
		_ = os.Remove(dst)
		if err := os.WriteFile(dst, b, 0o644); err != nil {
			log.Warn("resolver not carried into the root filesystem", "err", err)
		}
	}
	h := handoverOf(res, lease)
	h.RootfsURL, h.Loop = p.URL, m.Loop
	if err := rootfs.WriteHandover(rootfs.HandoverFile, h); err != nil {
		log.Warn("handover file not written: stage 2 will not know the lease", "err", err)
	}
	err = rootfs.SwitchRoot(rootfsNewRoot, []string{rootfs.AgentPath, "init", "--stage=2"}, stage2Env(os.Environ()), log)
	if errors.Is(err, rootfs.ErrInitramfsGone) {
		return err
	}
	// Staying in the initramfs: the image would hold its size in RAM.
	return errors.Join(err, m.Unmount(), removeImage(img))
}

// removeImage deletes the downloaded root filesystem from /run (RAM).
func removeImage(img string) error {
	if err := os.Remove(img); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("free the RAM the root filesystem image holds: %w", err)
	}
	return nil
}

// handoverOf is what stage 2 must know of the network: the interface and
// the latest lease, which it goes on renewing.
func handoverOf(res *netup.Result, lease netup.Lease) rootfs.Handover {
	plan := res.Plan
	if p, err := netup.PlanOf(lease); err == nil {
		plan = p // renewed, perhaps with another address
	}
	h := rootfs.Handover{Iface: res.Iface, MAC: res.MAC.String(), Addr: plan.Addr.String(), Server: addrOrEmpty(plan.Server),
		Gateway: addrOrEmpty(plan.Gateway), Domain: plan.Domain, MTU: plan.MTU, LeasedAt: lease.Acquired.UTC(),
		LeaseSeconds: int(lease.Duration().Seconds()), T1Seconds: int(lease.T1().Seconds()), T2Seconds: int(lease.T2().Seconds())}
	for _, a := range plan.DNS {
		h.DNS = append(h.DNS, a.String())
	}
	if lease.ACK != nil {
		h.ACK = lease.ACK.ToBytes()
	}
	return h
}

func addrOrEmpty(a netip.Addr) string {
	if !a.IsValid() {
		return ""
	}
	return a.String()
}

// renewHandedOver goes on renewing, in stage 2, the lease stage 1 got;
// onChange learns a new address (k3s' node-ip follows it).
func renewHandedOver(ctx context.Context, h rootfs.Handover, onChange func(string, netip.Prefix, netip.Prefix), log *slog.Logger) {
	if len(h.ACK) == 0 {
		log.Warn("no DHCP lease in the handover: it is not renewed, and the controller will give the address to another machine when it expires")
		return
	}
	ack, err := dhcpv4.FromBytes(h.ACK)
	if err != nil {
		log.Error("DHCP lease in the handover unreadable: it is not renewed", "err", err)
		return
	}
	link, err := netup.LinkNamed(h.Iface)
	if err != nil {
		log.Error("boot interface gone: the DHCP lease is not renewed", "err", err)
		return
	}
	l := netup.Lease{ACK: ack, Acquired: h.LeasedAt}
	log.Info("renewing the DHCP lease from stage 1", "iface", link.Name, "ip", h.Addr, "expires", l.Expires().Format(time.RFC3339))
	go func() {
		if err := netup.Renew(ctx, netup.RenewConfig{Link: link, Lease: l, Logger: log, OnAddressChange: onChange}); err != nil {
			log.Error("DHCP lease not renewed: the controller will give the address to another machine when it expires", "err", err)
		}
	}()
}

// stage2Env is init's environment with a PATH: the kernel starts init with
// HOME and TERM only, and stage 2 runs programs (k3s, modprobe) by name.
func stage2Env(env []string) []string {
	for _, kv := range env {
		if strings.HasPrefix(kv, "PATH=") {
			return env
		}
	}
	return append(env, "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
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
		if sleep(ctx, wait) != nil {
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
