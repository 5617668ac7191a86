package inventory

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	api "corral.io/corral/api/v1alpha1"
)

// TestCaptureMatchesHost runs testdata/capture.sh on this machine and checks
// that the dump reads exactly like the machine itself, so that capture.sh
// keeps up with what the readers read.
func TestCaptureMatchesHost(t *testing.T) {
	if testing.Short() {
		t.Skip("captures this machine's /sys (about a second)")
	}
	dir := t.TempDir()
	if out, err := exec.Command("sh", "testdata/capture.sh", dir).CombinedOutput(); err != nil {
		t.Fatalf("capture.sh: %v\n%s", err, out)
	}
	opts := Options{PCIIDs: "testdata/pci.ids"}
	opts.Root = HostRoot()
	host := Collect(opts)
	opts.Root = PrefixRoot(dir)
	dump := Collect(opts)
	for i, w := range dump.Warnings {
		dump.Warnings[i] = strings.ReplaceAll(w, dir, "")
	}
	// The current frequency moves between two reads on machines that scale it.
	if diff := cmp.Diff(host, dump, cmpopts.IgnoreFields(api.CPU{}, "CurrentMHz")); diff != "" {
		t.Errorf("the dump reads differently from the machine (-host +dump):\n%s", diff)
	}
}
