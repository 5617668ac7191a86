package inventory

import (
	"cmp"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestNodeImageNamesModels: the node image built by `make image` carries
// the pci.ids the agent reads after switch_root, and with it the inventory
// names a NIC's vendor and model (issue 10.4: nodes warned "no pci.ids
// database found"). The image is CORRAL_NODE_IMAGE (a directory holding
// rootfs.squashfs), by default .cache/image/$IMAGE_VERSION, else .cache/image/lab.
func TestNodeImageNamesModels(t *testing.T) {
	dir := os.Getenv("CORRAL_NODE_IMAGE")
	if dir == "" {
		dir = filepath.Join("..", "..", ".cache", "image", cmp.Or(os.Getenv("IMAGE_VERSION"), "lab"))
	}
	squash := filepath.Join(dir, "rootfs.squashfs")
	if _, err := os.Stat(squash); err != nil {
		t.Skipf("no node image (%v): run `make image` or set CORRAL_NODE_IMAGE", err)
	}
	if _, err := exec.LookPath("unsquashfs"); err != nil {
		t.Skip("unsquashfs is not installed (apt-get install squashfs-tools)")
	}
	out, err := exec.Command("unsquashfs", "-cat", squash, "usr/share/misc/pci.ids").Output()
	if err != nil || len(out) == 0 {
		t.Fatalf("%s has no usr/share/misc/pci.ids (unsquashfs -cat: %v): the agent cannot name PCI devices", squash, err)
	}
	pciIDs := filepath.Join(t.TempDir(), "pci.ids")
	if err := os.WriteFile(pciIDs, out, 0o644); err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	buildQEMU(t, root)
	inv := Collect(Options{Root: PrefixRoot(root), PCIIDs: pciIDs})
	if len(inv.NICs) != 1 || inv.NICs[0].Vendor != "Red Hat, Inc." || inv.NICs[0].Model != "Virtio network device" {
		t.Errorf("NICs = %+v, want the virtio NIC named from the image's pci.ids", inv.NICs)
	}
	for _, w := range inv.Warnings {
		t.Logf("warning: %s", w)
	}
}
