package qemutests

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	api "corral.io/corral/api/v1alpha1"
)

const gib = int64(1) << 30

// Worker is a lab machine: firmware, hardware and the profile the default
// profiles give it.
type Worker struct {
	Name     string
	Firmware Firmware
	Shape    Shape
	Profile  string
}

// Workers are the lab's machines, each with its own firmware and shape.
// TestE2E boots the first two; make lab all three.
//
// The first is the smallest machine that boots; the second a storage
// server in miniature — three data disks on three buses, one already
// holding a user's ext4 filesystem, and a second NIC; the third boots
// OVMF with iPXE in its NIC's ROM.
var Workers = []Worker{
	{Name: "bios-compute", Firmware: BIOS, Profile: "compute", Shape: Shape{CPUs: 1, MemoryMiB: 768, Disks: []Disk{
		{Serial: "CRL-BIOS-VDA", SizeBytes: 20 * gib},
	}}},
	{Name: "uefi-storage", Firmware: UEFI, Profile: "storage", Shape: Shape{CPUs: 2, MemoryMiB: 1024, ExtraNICs: 1, Disks: []Disk{
		{Serial: "CRL-NVME-0", SizeBytes: 120 * gib, Bus: "nvme"},
		{Serial: "CRL-VIRTIO-1", SizeBytes: 110 * gib},
		{Serial: "CRL-USERDATA-2", SizeBytes: 100 * gib, Bus: "scsi",
			Files: map[string]string{"precious.txt": "data Corral did not write\n"}},
	}}},
	{Name: "uefi-ipxe-compute", Firmware: UEFIWithIPXEROM, Profile: "compute", Shape: Shape{CPUs: 2, MemoryMiB: 768, Disks: []Disk{
		{Serial: "CRL-SCSI-0", SizeBytes: 40 * gib, Bus: "scsi"},
	}}},
}

// NodeImageDir is where `make image IMAGE_VERSION=lab` puts the node image
// the lab boots.
func NodeImageDir(t testing.TB) string {
	return filepath.Join(repoRoot(t), ".cache", "image", "lab")
}

// RequireNodeImage skips, with one line saying what to run, when the node
// image is not built.
func RequireNodeImage(t testing.TB) string {
	t.Helper()
	image := NodeImageDir(t)
	for _, f := range []string{"vmlinuz", "initrd.img", "manifest.json"} {
		if _, err := os.Stat(filepath.Join(image, f)); err != nil {
			t.Skipf("no node image in %s: run make image IMAGE_VERSION=lab", image)
		}
	}
	return image
}

// NewNodeLab is a lab whose controller boots the node image (make image):
// workers run corral-agent as init and enrol under the auto policy. It
// skips when the lab cannot run any of BIOS, UEFI and UEFIWithIPXEROM here.
func NewNodeLab(t testing.TB, image string) *Lab {
	t.Helper()
	return newNodeLab(t, image, "")
}

// newNodeLab is NewNodeLab with extra controller configuration.
func newNodeLab(t testing.TB, image, extraConfig string) *Lab {
	t.Helper()
	for _, fw := range []Firmware{BIOS, UEFI, UEFIWithIPXEROM} {
		requireLab(t, fw, true, false)
	}
	l := newLabWith(t, requireLab(t, BIOS, true, false))
	l.nodeImage = image
	l.ExtraConfig = extraConfig
	l.startController()
	return l
}

// ClientConfig is the client.yaml the controller wrote (API URL, CA, admin
// token), for `corral --client-config`.
func (l *Lab) ClientConfig() string {
	return filepath.Join(l.dir, "state", "client.yaml")
}

// Corral runs `bin/corral ARGS --client-config <the lab's>` inside the lab's
// namespace and returns its standard output.
func (l *Lab) Corral(ctx context.Context, args ...string) ([]byte, error) {
	cmd := l.NS.Command(ctx, l.paths.corral, append(args, "--client-config", l.ClientConfig())...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return out, fmt.Errorf("corral %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return out, nil
}

// Nodes lists what the controller's registry holds, through the CLI and the
// API as an operator would.
func (l *Lab) Nodes(ctx context.Context) ([]api.Node, error) {
	out, err := l.Corral(ctx, "nodes", "list", "-o", "json")
	if err != nil {
		return nil, err
	}
	var list api.NodeList
	if err := json.Unmarshal(out, &list); err != nil {
		return nil, fmt.Errorf("decode corral nodes list -o json: %w", err)
	}
	return list.Items, nil
}

// Node returns the registry's record of the machine with this MAC.
func (l *Lab) Node(ctx context.Context, mac string) (api.Node, error) {
	out, err := l.Corral(ctx, "nodes", "show", mac, "-o", "json")
	if err != nil {
		return api.Node{}, err
	}
	var n api.Node
	if err := json.Unmarshal(out, &n); err != nil {
		return api.Node{}, fmt.Errorf("decode corral nodes show -o json: %w", err)
	}
	return n, nil
}

// WaitForState polls the registry until the VM's node is in state and
// returns its record. It fails the test, with the end of the console, when
// the timeout passes first.
func (vm *VM) WaitForState(state string, timeout time.Duration) api.Node {
	t := vm.lab.t
	t.Helper()
	if d, ok := deadline(t); ok {
		if left := time.Until(d) - 30*time.Second; left < timeout {
			timeout = max(left, time.Second)
		}
	}
	end := time.Now().Add(timeout)
	var last string
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		n, err := vm.lab.Node(ctx, vm.MAC.String())
		cancel()
		if err == nil && string(n.State) == state {
			return n
		}
		if err != nil {
			last = err.Error()
		} else {
			last = "state " + string(n.State)
		}
		if time.Now().After(end) {
			vm.failf("VM %s: not %s in the registry after %s (last: %s)", vm.Name, state, timeout, last)
		}
		select {
		case <-vm.done:
			vm.failf("VM %s: QEMU exited (%v) before its node was %s (last: %s)", vm.Name, vm.cmd.ProcessState, state, last)
		case <-time.After(time.Second):
		}
	}
}
