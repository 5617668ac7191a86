package boot

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"golang.org/x/sys/unix"

	"corral.io/corral/agent/netup"
	"corral.io/corral/agent/pid1"
	"corral.io/corral/agent/rootfs"
)

// stage2 is init's work in the root filesystem until ctx ends: go on
// renewing the lease stage 1 handed over, and enrol.
func stage2(ctx context.Context, f runFlags, reaper *pid1.Reaper, out io.Writer, log *slog.Logger) error {
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
