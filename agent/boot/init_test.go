package boot

import (
	"context"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"

	"corral.io/corral/agent/logship"
	"corral.io/corral/agent/netup"
	"corral.io/corral/agent/pid1"
	"corral.io/corral/agent/rootfs"
	"corral.io/corral/internal/testutil"
)

func TestStage2EnvHasAPath(t *testing.T) {
	kernel := []string{"HOME=/", "TERM=linux"}
	got := stage2Env(kernel)
	if !slices.Contains(got, "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin") || len(got) != 3 {
		t.Errorf("stage2Env(%q) = %q, want a PATH added", kernel, got)
	}
	own := []string{"PATH=/opt/bin"}
	if got := stage2Env(own); !slices.Equal(got, own) {
		t.Errorf("stage2Env(%q) = %q, want it kept", own, got)
	}
}

func TestMeminfoMiB(t *testing.T) {
	if _, err := os.Stat("/proc/meminfo"); err != nil {
		t.Skip("no /proc/meminfo")
	}
	total, avail := meminfoMiB("MemTotal"), meminfoMiB("MemAvailable")
	if total <= 0 || avail <= 0 || avail > total {
		t.Errorf("MemTotal %d MiB, MemAvailable %d MiB", total, avail)
	}
	if got := meminfoMiB("NoSuchField"); got != -1 {
		t.Errorf("missing field: %d, want -1", got)
	}
}

// Under PID 1 the reaper takes every child, so k3s' supervisor must learn
// k3s' exits from it (docs/k3s.md).
func TestInitDepsWireTheReaperIntoK3s(t *testing.T) {
	d := initDeps(&pid1.Reaper{})
	if d.k3s.Supervise.Exited == nil {
		t.Fatal("k3s' supervisor does not get exit statuses from the reaper")
	}
	if d.pid != 1 {
		t.Errorf("pid %d, want 1 (init sets the hostname)", d.pid)
	}
	// The reaper's exit notifications reach the supervisor's channel.
	r := &pid1.Reaper{}
	d = initDeps(r)
	cmd := exec.Command("/bin/true")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ch := d.k3s.Supervise.Exited(cmd.Process.Pid)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	go func() { _ = r.Run(ctx) }()
	select {
	case ws := <-ch:
		if !ws.Exited() || ws.ExitStatus() != 0 {
			t.Errorf("status %v, want exit 0", ws)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the reaper's exit notification did not reach k3s' supervisor")
	}
}

// Shutdown's first step cancels the agent's work, waits for it and
// returns; the shipper has nowhere to send yet, which is not an error.
func TestStopAgentCancelsAndWaits(t *testing.T) {
	runCtx, stopRun := context.WithCancel(t.Context())
	stopped := make(chan struct{})
	go func() { <-runCtx.Done(); time.Sleep(50 * time.Millisecond); close(stopped) }()
	var console testutil.LockedBuffer
	log := slog.New(slog.NewTextHandler(&console, nil))
	stopAgent(stopRun, stopped, logship.New(logship.Options{}), log)(t.Context())
	select {
	case <-stopped:
	default:
		t.Fatal("stopAgent returned before the agent stopped")
	}
	if !strings.Contains(console.String(), "agent stopped") || strings.Contains(console.String(), "not shipped") {
		t.Errorf("log:\n%s", console.String())
	}
}

// Staying in the initramfs after a failed switch frees the image's RAM.
func TestRemoveImage(t *testing.T) {
	img := t.TempDir() + "/rootfs.squashfs"
	if err := os.WriteFile(img, []byte("squashfs"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := removeImage(img); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(img); err == nil {
		t.Error("image still in /run")
	}
	if err := removeImage(img); err != nil {
		t.Errorf("second removal: %v, want nil", err)
	}
}

// The handover carries the latest lease, and stage 2 can renew from it.
func TestHandoverCarriesTheLease(t *testing.T) {
	first, err := dhcpv4.New(dhcpv4.WithYourIP(net.IPv4(10, 0, 0, 5)), dhcpv4.WithNetmask(net.CIDRMask(24, 32)),
		dhcpv4.WithOption(dhcpv4.OptServerIdentifier(net.IPv4(10, 0, 0, 1))), dhcpv4.WithOption(dhcpv4.OptIPAddressLeaseTime(time.Hour)))
	if err != nil {
		t.Fatal(err)
	}
	renewed, err := dhcpv4.New(dhcpv4.WithYourIP(net.IPv4(10, 0, 0, 6)), dhcpv4.WithNetmask(net.CIDRMask(24, 32)),
		dhcpv4.WithOption(dhcpv4.OptServerIdentifier(net.IPv4(10, 0, 0, 1))), dhcpv4.WithOption(dhcpv4.OptIPAddressLeaseTime(time.Minute)))
	if err != nil {
		t.Fatal(err)
	}
	res := &netup.Result{Iface: "eth0", MAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, Lease: netup.Lease{ACK: first}}
	res.Plan, _ = netup.PlanOf(res.Lease)
	at := time.Date(2026, 11, 22, 7, 0, 0, 0, time.UTC)
	h := handoverOf(res, netup.Lease{ACK: renewed, Acquired: at})
	path := filepath.Join(t.TempDir(), "handover.json")
	if err := rootfs.WriteHandover(path, h); err != nil {
		t.Fatal(err)
	}
	got, err := rootfs.ReadHandover(path)
	if err != nil {
		t.Fatal(err)
	}
	if got.Addr != "10.0.0.6/24" || got.Server != "10.0.0.1" || got.LeaseSeconds != 60 || got.T1Seconds != 30 || got.T2Seconds != 52 || !got.LeasedAt.Equal(at) {
		t.Errorf("handover %+v: want the renewed lease (10.0.0.6/24, 60 s, T1 30, T2 52)", got)
	}
	ack, err := dhcpv4.FromBytes(got.ACK)
	if err != nil || !ack.YourIPAddr.Equal(net.IPv4(10, 0, 0, 6)) {
		t.Errorf("handed-over ACK %v, %v", ack, err)
	}
}
