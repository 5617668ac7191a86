package qemutests

import (
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
	took := vm.WaitFor(initMarker, 2*time.Minute)
	t.Logf("direct boot: QEMU start to %s in %.1f s", initMarker, took.Seconds())
	if got := vm.KernelCmdline(); !strings.Contains(got, "corral.test=direct") {
		t.Errorf("kernel command line printed by init = %q, want it to contain corral.test=direct", got)
	}
}
