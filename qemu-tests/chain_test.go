package qemutests

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestTestImageBoots boots the test kernel and initramfs directly, without
// firmware network boot or a controller: the fixture prints the marker and
// the kernel command line, so a failure of the chain tests is not the
// fixture's.
func TestTestImageBoots(t *testing.T) {
	l := newLab(t, BIOS, false)
	const cmdline = "console=ttyS0 panic=-1 corral.test=direct"
	vm := l.startDirectVM("direct", cmdline)
	took := vm.WaitFor(initMarker, time.Minute)
	t.Logf("direct boot: QEMU start to %s in %.1f s", initMarker, took.Seconds())
	if got := vm.KernelCmdline(); !strings.Contains(got, "corral.test=direct") {
		t.Errorf("kernel command line printed by init = %q, want it to contain corral.test=direct", got)
	}
}

// TestPXEChainBIOS boots a SeaBIOS VM whose NIC carries Debian's iPXE option
// ROM: DHCP (the ROM says it is iPXE) → the boot script URL → HTTP script →
// kernel and initramfs over HTTP → the test init.
func TestPXEChainBIOS(t *testing.T) {
	testChain(t, BIOS, 3*time.Minute)
}

// TestPXEChainUEFI boots an OVMF VM with the firmware's own PXE client:
// DHCP (PXEClient, arch 7) → ipxe.efi over TFTP → iPXE's DHCP → HTTP script →
// kernel and initramfs over HTTP → the test init.
func TestPXEChainUEFI(t *testing.T) {
	testChain(t, UEFI, 5*time.Minute)
}

// TestPXEChainUEFIWithIPXEROM boots an OVMF VM whose NIC carries Debian's
// iPXE EFI option ROM: DHCP (iPXE) → HTTP script → kernel and initramfs →
// the test init.
func TestPXEChainUEFIWithIPXEROM(t *testing.T) {
	testChain(t, UEFIWithIPXEROM, 5*time.Minute)
}

// testChain boots one VM with fw from the lab's controller and checks the
// console and what the controller logged and counted. Firmware without an
// option ROM loads iPXE over TFTP; an iPXE ROM must be given the boot script
// URL instead, never an iPXE binary to loop on.
func testChain(t *testing.T, fw Firmware, timeout time.Duration) {
	l := NewLab(t, fw)
	vm := l.StartVM("worker", fw)
	took := vm.WaitFor(initMarker, timeout)
	t.Logf("%s: QEMU start to %s in %.1f s", fw.Name, initMarker, took.Seconds())
	mac := vm.MAC.String()
	secs := func(recs []LogRecord) string {
		if d := vm.Since(recs); d >= 0 {
			return fmt.Sprintf("%.1f s", d.Seconds())
		}
		return "-"
	}
	t.Logf("%s: first DHCP offer %s, %s over TFTP %s, boot script %s, initrd %s, init %.1f s",
		fw.Name, secs(l.FindLog("offer", "mac", mac)), uefiFile, secs(l.FindLog("tftp transfer done", "file", uefiFile)),
		secs(l.FindLog("http request", "path", "/boot.ipxe")),
		secs(l.FindLog("http request", "path", "/images/test/initrd.img")), took.Seconds())

	cmdline := vm.KernelCmdline()
	for _, want := range []string{
		"BOOTIF=" + vm.BOOTIF(),
		l.Cmdline,
	} {
		if !containsFold(cmdline, want) {
			t.Errorf("kernel command line %q lacks %q", cmdline, want)
		}
	}

	if acks := l.FindLog("ack", "mac", mac); len(acks) == 0 {
		t.Errorf("controller log has no DHCP ack for %s", mac)
	} else if ip := fmt.Sprint(acks[len(acks)-1]["ip"]); !vm.ConsoleContains("net0: " + ip + "/") {
		t.Errorf("iPXE did not configure the leased address %s (no \"net0: %s/\" on the console)", ip, ip)
	}
	wantTFTP := fw.NoROM
	switch {
	case wantTFTP && len(l.FindLog("tftp transfer done", "file", uefiFile)) == 0:
		t.Errorf("controller log has no completed TFTP transfer of %s", uefiFile)
	case !wantTFTP && len(l.FindLog("tftp transfer done")) > 0:
		t.Errorf("controller served TFTP to the iPXE ROM: %v", l.FindLog("tftp transfer done"))
	}
	for _, path := range []string{"/boot.ipxe", "/images/test/vmlinuz", "/images/test/initrd.img"} {
		if len(l.FindLog("http request", "path", path, "code", "200")) == 0 {
			t.Errorf("controller log has no successful HTTP GET %s", path)
		}
	}

	m := l.Metrics()
	for _, c := range []struct {
		sample string
		min    float64
	}{
		{`corral_dhcp_packets_sent_total{type="ACK"}`, 1},
		{`corral_dhcp_leases_in_use`, 1},
		{`corral_http_requests_total{code="200",route="/boot.ipxe"}`, 1},
		{`corral_http_requests_total{code="200",route="/images/{version}/{file...}"}`, 2},
	} {
		if got := m[c.sample]; got < c.min {
			t.Errorf("metric %s = %v, want at least %v", c.sample, got, c.min)
		}
	}
	if got := m[`corral_tftp_transfers_total{result="ok"}`]; wantTFTP && got < 1 {
		t.Errorf(`metric corral_tftp_transfers_total{result="ok"} = %v, want at least 1`, got)
	}
}

// containsFold reports whether s contains substr, ignoring case (iPXE may
// write the MAC in BOOTIF in either case).
func containsFold(s, substr string) bool {
	return strings.Contains(strings.ToLower(s), strings.ToLower(substr))
}
