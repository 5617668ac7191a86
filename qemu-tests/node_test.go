package qemutests

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// nodeView is what `corral nodes show -o json` prints, as far as this test
// reads it.
type nodeView struct {
	ID        string   `json:"id"`
	Hostname  string   `json:"hostname"`
	State     string   `json:"state"`
	Profile   string   `json:"profile"`
	MACs      []string `json:"macs"`
	Inventory struct {
		System struct {
			Firmware string `json:"firmware"`
		} `json:"system"`
		CPU struct {
			Threads int `json:"threads"`
		} `json:"cpu"`
		Memory struct {
			TotalBytes uint64 `json:"totalBytes"`
		} `json:"memory"`
	} `json:"inventory"`
}

// TestWorkerBootsTheNodeImageAndEnrols is the boot path end to end, as far as
// it exists: a SeaBIOS VM network-boots the node image (make image: Debian's
// kernel and an initramfs whose /init is corral-agent), the agent mounts
// what it needs, loads its NIC's module, brings the boot NIC up with DHCP,
// registers over HTTPS pinning the controller's CA, is approved (auto policy
// in the lab), fetches its configuration and heartbeats. The controller's
// record must match the QEMU command line.
func TestWorkerBootsTheNodeImageAndEnrols(t *testing.T) {
	image := filepath.Join(repoRoot(t), ".cache", "image", "lab")
	for _, f := range []string{"vmlinuz", "initrd.img"} {
		if _, err := os.Stat(filepath.Join(image, f)); err != nil {
			t.Skipf("no node image in %s: run make image IMAGE_VERSION=lab", image)
		}
	}
	l := newLab(t, BIOS, true)
	l.nodeImage = image
	l.startController()
	vm := l.StartVM("worker", BIOS)
	took := vm.WaitFor("msg=heartbeating", 5*time.Minute)
	mac := vm.MAC.String()
	t.Logf("node image: QEMU start to the agent heartbeating in %.1f s (registered after %.1f s)",
		took.Seconds(), vm.Since(l.FindLog("node registered")).Seconds())

	var n nodeView
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		out, err := l.NS.Command(ctx, l.paths.corral, "nodes", "show", mac, "-o", "json",
			"--client-config", filepath.Join(l.dir, "state", "client.yaml")).Output()
		cancel()
		if err == nil && json.Unmarshal(out, &n) == nil && n.State == "ready" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("node %s not ready in the registry: %v %s (%+v)", mac, err, out, n)
		}
		time.Sleep(500 * time.Millisecond)
	}
	if !containsFold(strings.Join(n.MACs, " "), mac) {
		t.Errorf("recorded MACs %v lack the VM's %s", n.MACs, mac)
	}
	if n.Inventory.CPU.Threads != 1 {
		t.Errorf("recorded %d CPU threads, QEMU gives 1", n.Inventory.CPU.Threads)
	}
	// -m 512: the kernel sees 512 MiB less what firmware and kernel keep.
	if mem := n.Inventory.Memory.TotalBytes >> 20; mem < 400 || mem > 512 {
		t.Errorf("recorded %d MiB of memory, QEMU gives 512 MiB", mem)
	}
	if n.Inventory.System.Firmware != "bios" {
		t.Errorf("recorded firmware %q, want bios (SeaBIOS)", n.Inventory.System.Firmware)
	}
	if n.Profile != "compute" || n.Hostname == "" {
		t.Errorf("profile %q hostname %q, want compute and a hostname", n.Profile, n.Hostname)
	}
}
