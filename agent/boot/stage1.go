package boot

import (
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
	"sync/atomic"
	"time"

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

// stage1 is init's work in the initramfs until ctx ends: kernel modules,
// network, root filesystem and switch_root into stage 2, or, when there is
// none or it fails, enrolment from the initramfs.
func stage1(ctx context.Context, f runFlags, reaper *pid1.Reaper, out io.Writer, log *slog.Logger) error {
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
		if backoff.Sleep(ctx, wait) != nil {
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
		if backoff.Sleep(ctx, wait) != nil {
			return
		}
	}
}

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
