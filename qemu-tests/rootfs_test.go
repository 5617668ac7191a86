package qemutests

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	api "corral.io/corral/api/v1alpha1"
)

// stage2Marker is what corral-agent logs once it runs from the root
// filesystem (agent/boot/stage2.go).
const stage2Marker = `msg="stage 2: running from the root filesystem"`

// TestRootfsWorkerSwitchesIntoTheRootFilesystemAndEnrols boots the node
// image, whose kernel command line the controller gives corral.rootfs=
// pointing at its copy of rootfs.squashfs: the agent, PID 1 in the initramfs, brings the network
// up, downloads and verifies the squashfs, mounts it with a tmpfs overlay,
// switch_roots into it and, as stage 2, registers, is approved and
// heartbeats.
func TestRootfsWorkerSwitchesIntoTheRootFilesystemAndEnrols(t *testing.T) {
	dir := RequireNodeImage(t)
	m, err := api.ReadImageManifest(filepath.Join(dir, api.ImageManifestFile))
	if err != nil {
		t.Fatal(err)
	}
	rootfs, ok := m.Artifact(api.ImageRootfsFile)
	if !ok {
		t.Skipf("the node image in %s has no %s: run make image IMAGE_VERSION=lab (as root, with debootstrap and squashfs-tools)", dir, api.ImageRootfsFile)
	}
	// The lab imports and activates the image; the controller then puts
	// corral.rootfs=<its URL of rootfs.squashfs> and corral.rootfs.sha256=
	// on the kernel command line from the manifest.
	l := NewNodeLab(t, dir)

	vm := l.StartShapedVM("rootfs", BIOS, Shape{CPUs: 1, MemoryMiB: 1024})
	stage2 := vm.WaitFor(stage2Marker, 5*time.Minute)
	beat := vm.WaitFor("msg=heartbeating", 3*time.Minute)
	// Stage 1 registers as soon as the network is up, so its log ships;
	// the node is enrolled — gets its credential — from the root
	// filesystem.
	registered := vm.Since(l.FindLog("node registered"))
	enrolled := vm.Since(l.FindLog("credential issued"))
	t.Logf("rootfs.squashfs %d bytes (%.1f MB); QEMU start to registered (stage 1) in %.1f s, to stage 2 in %.1f s, to credential in %.1f s, to heartbeating in %.1f s",
		rootfs.Size, float64(rootfs.Size)/1e6, registered.Seconds(), stage2.Seconds(), enrolled.Seconds(), beat.Seconds())
	switch {
	case registered < 0:
		t.Error("the controller never logged \"node registered\"")
	case enrolled < 0:
		t.Error("the controller never logged \"credential issued\"")
	case enrolled < stage2:
		t.Errorf("credential issued %.1f s after power-on, before stage 2 (%.1f s): the initramfs enrolled, not the root filesystem", enrolled.Seconds(), stage2.Seconds())
	}
	if !vm.ConsoleContains("corral.rootfs.sha256=" + rootfs.SHA256) {
		t.Errorf("the kernel command line lacks corral.rootfs.sha256=%s (from the manifest)", rootfs.SHA256)
	}
	if !vm.ConsoleContains("root filesystem downloaded and verified") {
		t.Error("console does not show the verified download")
	}
	console, _ := os.ReadFile(vm.Serial)
	if r := m.Inputs.Rootfs; r != nil && len(r.ModuleDirs) > 0 {
		if m := regexp.MustCompile(regexp.QuoteMeta(stage2Marker) + `.* modules=(\d+)`).FindSubmatch(console); m == nil || string(m[1]) == "0" {
			t.Errorf("stage 2 finds no kernel modules in the root filesystem (%q)", m)
		}
	}
	if vm.ConsoleContains("staying in the initramfs") {
		t.Error("console shows the agent gave up on the root filesystem")
	}
	if os.Getenv("CORRAL_LAB_KEEP") != "" {
		t.Logf("serial console: %s", vm.Serial)
	}
}

// TestRootfsWorkerRefusesATamperedRootfs serves a rootfs.squashfs whose
// sha256 is not the manifest's (one byte changed after activation): the
// node must log the mismatch, never reach stage 2 with it, keep retrying,
// and switch root once the genuine file is served again.
func TestRootfsWorkerRefusesATamperedRootfs(t *testing.T) {
	dir := RequireNodeImage(t)
	m, err := api.ReadImageManifest(filepath.Join(dir, api.ImageManifestFile))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := m.Artifact(api.ImageRootfsFile); !ok {
		t.Skipf("the node image in %s has no %s: run make image IMAGE_VERSION=lab", dir, api.ImageRootfsFile)
	}
	l := NewNodeLab(t, dir)
	served := filepath.Join(l.dir, "images", m.Version, api.ImageRootfsFile)
	genuine, err := os.ReadFile(served)
	if err != nil {
		t.Fatalf("the controller's copy of the root filesystem: %v", err)
	}
	tampered := bytes.Clone(genuine)
	tampered[len(tampered)/2] ^= 0xff
	// Replace by rename, so a download never sees half of either.
	replace := func(b []byte) {
		t.Helper()
		tmp := served + ".tmp"
		if err := os.WriteFile(tmp, b, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, served); err != nil {
			t.Fatal(err)
		}
	}
	replace(tampered)

	vm := l.StartVM("tampered", BIOS)
	took := vm.WaitFor("sha256 mismatch", 5*time.Minute)
	if vm.ConsoleContains(stage2Marker) {
		t.Fatal("stage 2 started from a root filesystem whose sha256 is wrong")
	}
	t.Logf("mismatch seen %.1f s after power-on", took.Seconds())
	// Stage 1 registered as soon as its network was up, so an operator
	// reads the failure with corral nodes logs while the node is stuck.
	shipped := stage1LogShows(t, l, "sha256 mismatch", 2*time.Minute)
	if vm.ConsoleContains(stage2Marker) {
		t.Fatal("stage 2 started from a root filesystem whose sha256 is wrong")
	}
	t.Logf("corral nodes logs showed the mismatch %.1f s after power-on, the node still in stage 1; serving the genuine file again", shipped.Sub(vm.Started()).Seconds())
	replace(genuine)
	stage2 := vm.WaitFor(stage2Marker, 3*time.Minute)
	vm.WaitFor("msg=heartbeating", 2*time.Minute)
	t.Logf("stage 2 %.1f s after power-on, once the genuine file was served", stage2.Seconds())
	if !vm.ConsoleContains("waiting_for=") {
		t.Error("the failed attempt does not say what it waits for")
	}
}

// stage1LogShows waits until `corral nodes logs` of some node shows want,
// and returns when it did.
func stage1LogShows(t *testing.T, l *Lab, want string, timeout time.Duration) time.Time {
	t.Helper()
	var last []byte
	for end := time.Now().Add(timeout); time.Now().Before(end); time.Sleep(time.Second) {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		nodes, err := l.Nodes(ctx)
		for _, n := range nodes {
			out, lerr := l.Corral(ctx, "nodes", "logs", n.ID)
			if lerr == nil && strings.Contains(string(out), want) {
				cancel()
				return time.Now()
			}
			last = out
		}
		cancel()
		if err != nil {
			last = []byte(err.Error())
		}
	}
	t.Fatalf("corral nodes logs never showed %q within %s while the node was in stage 1; last:\n%s", want, timeout, last)
	return time.Time{}
}
