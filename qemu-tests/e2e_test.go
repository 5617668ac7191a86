package qemutests

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	api "corral.io/corral/api/v1alpha1"
)

// TestE2E is the whole boot path, end to end, for two workers at once: a
// SeaBIOS machine whose NIC ROM is iPXE, and an OVMF machine that PXE-boots
// ipxe.efi over TFTP. Each network-boots the node image (make image),
// corral-agent as init inventories it, registers over HTTPS pinning the
// controller's CA, is approved (auto policy in the lab), gets its profile
// and heartbeats. What the controller recorded must match the QEMU command
// line exactly, the matching profile must be assigned, and the disk that
// already held a filesystem must be untouched.
func TestE2E(t *testing.T) {
	image := RequireNodeImage(t)
	l := NewNodeLab(t, image)
	workers := map[string]Worker{}
	for _, w := range Workers[:2] { // SeaBIOS and OVMF's own PXE
		workers[w.Name] = w
	}
	// Fingerprints of the disks holding data, taken before any VM starts.
	vms := map[string]*VM{}
	before := map[string]string{}
	for _, name := range slices.Sorted(maps.Keys(workers)) {
		w := workers[name]
		vm := l.StartShapedVM(name, w.Firmware, w.Shape)
		vms[name] = vm
		for _, d := range vm.Disks {
			if len(d.Files) > 0 {
				before[d.Path] = fingerprint(t, d.Path)
			}
		}
	}

	// The VMs boot side by side; waiting for one after the other costs
	// nothing, and the times come from the records, not from the polling.
	nodes := map[string]api.Node{}
	for _, name := range slices.Sorted(maps.Keys(vms)) {
		vm := vms[name]
		n := vm.WaitForState("ready", 6*time.Minute)
		registered := vm.Since(l.FindLog("node registered", "node", n.ID))
		t.Logf("%s (%s): QEMU start to registered %.1f s, to ready %.1f s",
			name, vm.Firmware.Name, registered.Seconds(), n.StateSince.Sub(vm.Started()).Seconds())
		nodes[name] = n
	}

	for name, vm := range vms {
		t.Run(name, func(t *testing.T) {
			checkRecord(t, vm, nodes[name], workers[name].Profile)
			checkBootLog(t, l, nodes[name])
		})
	}

	// The disks are compared with QEMU stopped, so nothing is in flight.
	for _, vm := range vms {
		vm.Stop()
	}
	for path, fp := range before {
		if after := fingerprint(t, path); after != fp {
			t.Errorf("%s holds a filesystem Corral did not write, and it changed (sha256 of its data %s → %s)", path, fp, after)
		}
	}
}

// checkRecord compares the controller's record of a node with the VM.
func checkRecord(t *testing.T, vm *VM, n api.Node, profile string) {
	inv := n.Inventory
	if inv == nil {
		t.Fatalf("node %s has no inventory", n.ID)
	}
	if n.Profile != profile {
		t.Errorf("profile %q, want %q", n.Profile, profile)
	}
	if n.Hostname == "" {
		t.Errorf("no hostname")
	}
	want := "bios"
	if vm.Firmware.UEFI {
		want = "uefi"
	}
	if inv.System.Firmware != want {
		t.Errorf("firmware %q, want %q", inv.System.Firmware, want)
	}
	if inv.CPU.Threads != vm.Shape.CPUs {
		t.Errorf("%d CPU threads, QEMU gives %d (-smp)", inv.CPU.Threads, vm.Shape.CPUs)
	}
	// The kernel sees the RAM less what firmware and kernel keep: measured
	// here 40–110 MiB below -m.
	mem := int64(inv.Memory.TotalBytes >> 20)
	if m := int64(vm.Shape.MemoryMiB); mem > m || mem < m-160 {
		t.Errorf("%d MiB of memory, QEMU gives %d MiB (-m)", mem, m)
	}

	var got, wantMACs []string
	for _, nic := range inv.NICs {
		got = append(got, strings.ToLower(nic.PermanentMAC))
	}
	for _, mac := range vm.MACs {
		wantMACs = append(wantMACs, mac.String())
	}
	slices.Sort(got)
	slices.Sort(wantMACs)
	if !slices.Equal(got, wantMACs) {
		t.Errorf("NICs %v, QEMU gives %v", got, wantMACs)
	}

	disks := map[string]api.Disk{}
	for _, d := range inv.Disks {
		if d.Serial != "" {
			disks[d.Serial] = d
		}
	}
	for _, want := range vm.Disks {
		d, ok := disks[want.Serial]
		if !ok {
			t.Errorf("no disk with serial %s; recorded %s", want.Serial, describeDisks(inv.Disks))
			continue
		}
		if d.SizeBytes != uint64(want.SizeBytes) {
			t.Errorf("disk %s: %d bytes, QEMU gives %d", want.Serial, d.SizeBytes, want.SizeBytes)
		}
		if len(want.Files) > 0 && (d.Filesystem == nil || d.Filesystem.Type != "ext4") {
			t.Errorf("disk %s holds ext4, recorded %s", want.Serial, d.Contents())
		}
	}
	if len(disks) != len(vm.Disks) {
		t.Errorf("recorded %d disks with serials, QEMU gives %d: %s", len(disks), len(vm.Disks), describeDisks(inv.Disks))
	}
}

// checkBootLog reads the node's boot log from the controller as an operator
// would: it must hold the boot from its first steps in the initramfs (kept
// across switch_root and sent once the node registered) to the heartbeat.
func checkBootLog(t *testing.T, l *Lab, n api.Node) {
	want := []string{"kernel modules", "network up", "root filesystem downloaded and verified", "stage 2: running from the root filesystem", "heartbeating"}
	var out []byte
	var err error
	// The last records may still be on their way.
	for end := time.Now().Add(30 * time.Second); ; {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		out, err = l.Corral(ctx, "nodes", "logs", n.ID)
		cancel()
		missing := []string{}
		for _, w := range want {
			if !strings.Contains(string(out), w) {
				missing = append(missing, w)
			}
		}
		if err == nil && len(missing) == 0 {
			return
		}
		if time.Now().After(end) {
			t.Errorf("corral nodes logs %s lacks %q (err %v); it shows:\n%s", n.ID, missing, err, out)
			return
		}
		time.Sleep(time.Second)
	}
}

func describeDisks(ds []api.Disk) string {
	var s []string
	for _, d := range ds {
		s = append(s, fmt.Sprintf("%s serial=%q %d bytes %s", d.Name, d.Serial, d.SizeBytes, d.Contents()))
	}
	return "[" + strings.Join(s, "; ") + "]"
}

// fingerprint hashes the data regions of a sparse file with their offsets
// (SEEK_DATA/SEEK_HOLE), so a 100 GiB disk with a few MiB written hashes in
// moments, and any change to its contents changes the result.
func fingerprint(t *testing.T, path string) string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("fingerprint %s: %v", path, err)
	}
	defer f.Close()
	h := sha256.New()
	fd := int(f.Fd())
	var off int64
	for {
		data, err := unix.Seek(fd, off, unix.SEEK_DATA)
		if errors.Is(err, unix.ENXIO) {
			break // no data after off
		}
		if err != nil {
			t.Fatalf("fingerprint %s: seek data: %v", path, err)
		}
		hole, err := unix.Seek(fd, data, unix.SEEK_HOLE)
		if err != nil {
			t.Fatalf("fingerprint %s: seek hole: %v", path, err)
		}
		fmt.Fprintf(h, "%d:", data)
		if _, err := io.Copy(h, io.NewSectionReader(f, data, hole-data)); err != nil {
			t.Fatalf("fingerprint %s: %v", path, err)
		}
		off = hole
	}
	return hex.EncodeToString(h.Sum(nil))
}

// TestFingerprintSeesEveryChange guards the disk check above: a test that
// could not fail would prove nothing.
func TestFingerprintSeesEveryChange(t *testing.T) {
	path := t.TempDir() + "/disk.raw"
	if err := makeDisk(path, Disk{SizeBytes: 64 << 20}); err != nil {
		t.Fatal(err)
	}
	empty := fingerprint(t, path)
	write := func(off int64, b string) string {
		f, err := os.OpenFile(path, os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.WriteAt([]byte(b), off); err != nil {
			t.Fatal(err)
		}
		f.Close()
		return fingerprint(t, path)
	}
	a := write(40<<20, "x")
	b := write(40<<20, "y")
	c := write(1, "y")
	seen := map[string]bool{empty: true, a: true, b: true, c: true}
	if len(seen) != 4 {
		t.Errorf("fingerprints %s %s %s %s: every change must change the fingerprint", empty, a, b, c)
	}
}
