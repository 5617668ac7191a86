package inventory

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	api "corral.io/corral/api/v1alpha1"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

// dgx is the DGX A100 fixture, built once per test binary (it has some
// 1,500 files) and shared read-only by the tests that need it.
var dgx struct {
	once sync.Once
	dir  string
}

func dgxRoot(t testing.TB) string {
	t.Helper()
	dgx.once.Do(func() {
		dir, err := os.MkdirTemp("", "corral-inventory-dgx-")
		if err != nil {
			t.Fatal(err)
		}
		dgx.dir = dir
		buildDGX(t, dir)
	})
	if dgx.dir == "" {
		t.Fatal("building the DGX fixture failed in an earlier test")
	}
	return dgx.dir
}

func TestMain(m *testing.M) {
	code := m.Run()
	if dgx.dir != "" {
		os.RemoveAll(dgx.dir)
	}
	os.Exit(code)
}

// fixture is one machine dump and how to read it.
type fixture struct {
	name  string
	root  string
	probe bool
}

// fixtures returns the machines: this build machine and a QEMU q35 VM (real
// dumps), a QEMU lab worker and a DGX-A100-like server (synthetic, built in
// fixtures_test.go).
func fixtures(t *testing.T) []fixture {
	qemu := filepath.Join(t.TempDir(), "qemu")
	buildQEMU(t, qemu)
	return []fixture{
		{name: "build-vm", root: "testdata/build-vm"},
		{name: "qemu-q35", root: "testdata/qemu-q35"},
		{name: "qemu", root: qemu},
		{name: "dgx-a100", root: dgxRoot(t), probe: true},
	}
}

func collectFixture(t *testing.T, f fixture) *api.Inventory {
	t.Helper()
	inv := Collect(Options{Root: PrefixRoot(f.root), ProbeDisks: f.probe, PCIIDs: "testdata/pci.ids"})
	// Warnings name paths under the (temporary) root; make them stable.
	for i, w := range inv.Warnings {
		inv.Warnings[i] = strings.ReplaceAll(w, f.root, "$ROOT")
	}
	return inv
}

// TestGolden checks the full inventory of each fixture against
// testdata/golden/<name>.json; run with -update to rewrite them after a
// deliberate change, and review the diff.
func TestGolden(t *testing.T) {
	for _, f := range fixtures(t) {
		t.Run(f.name, func(t *testing.T) {
			got, err := json.MarshalIndent(collectFixture(t, f), "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, '\n')
			path := filepath.Join("testdata/golden", f.name+".json")
			if *update {
				if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test -run TestGolden -update to create it)", err)
			}
			if diff := cmp.Diff(string(want), string(got)); diff != "" {
				t.Errorf("inventory differs from %s (-want +got):\n%s", path, diff)
			}
		})
	}
}

// TestDGX states the facts about the server fixture that matter most, so
// that a wrong golden file cannot hide them.
func TestDGX(t *testing.T) {
	inv := collectFixture(t, fixture{root: dgxRoot(t), probe: true})

	if got := [3]int{inv.CPU.Sockets, inv.CPU.Cores, inv.CPU.Threads}; got != [3]int{2, 128, 256} {
		t.Errorf("sockets, cores, threads = %v, want [2 128 256]", got)
	}
	if len(inv.NUMA) != 8 || inv.NUMA[5].CPUs != "80-95,208-223" || inv.NUMA[0].Distances[7] != 32 {
		t.Errorf("NUMA = %+v, want 8 nodes, node 5 cpus 80-95,208-223, distance 0→7 = 32", inv.NUMA)
	}
	if len(inv.Memory.Modules) != 16 || inv.Memory.InstalledBytes != 1<<40 {
		t.Errorf("memory modules = %d, installed %d, want 16 and 1 TiB", len(inv.Memory.Modules), inv.Memory.InstalledBytes)
	}
	if m := inv.Memory.Modules[0]; m.Type != "DDR4" || m.SpeedMTs != 3200 || m.Locator != "CPU0_DIMM_A1" {
		t.Errorf("first DIMM = %+v", m)
	}
	var a100 int
	for _, g := range inv.GPUs {
		if g.Name == "GA100 [A100 SXM4 40GB]" && g.Source == api.GPUSourcePCI && g.NUMANode >= 0 {
			a100++
		}
	}
	if a100 != 8 {
		t.Errorf("found %d A100s by PCI scan with a NUMA node, want 8: %+v", a100, inv.GPUs)
	}
	if inv.Identity.Source != IDSourceDMIUUID {
		t.Errorf("identity source = %q, want %q", inv.Identity.Source, IDSourceDMIUUID)
	}
	var boot []string
	for _, n := range inv.NICs {
		if n.Boot {
			boot = append(boot, n.Name)
		}
	}
	if diff := cmp.Diff([]string{"enp97s0f0"}, boot); diff != "" {
		t.Errorf("boot NICs (-want +got):\n%s", diff)
	}
	disks := map[string]api.Disk{}
	for _, d := range inv.Disks {
		disks[d.Name] = d
	}
	if fs := disks["nvme3n1"].Filesystem; fs == nil || fs.Type != "bluestore" {
		t.Errorf("nvme3n1 filesystem = %+v, want the bluestore OSD", fs)
	}
	if d := disks["nvme2n1"]; d.Filesystem != nil || !d.Probed || d.Transport != "nvme" || d.ByID != "/dev/disk/by-id/nvme-SAMSUNG_MZWLJ3T8HBLS-00007_S55KNC0R000003" {
		t.Errorf("nvme2n1 = %+v, want a probed, blank nvme disk with its by-id link", d)
	}
	for k, v := range map[string]string{
		"feature.node.kubernetes.io/pci-0302_10de.present":       "true",
		"feature.node.kubernetes.io/pci-0300_1a03.present":       "true",
		"feature.node.kubernetes.io/memory-numa":                 "true",
		"feature.node.kubernetes.io/storage-nonrotationaldisk":   "true",
		"feature.node.kubernetes.io/cpu-hardware_multithreading": "true",
		"nvidia.com/gpu.present":                                 "true",
		"corral.io/disk-ssd-count":                               "6",
		"corral.io/memory-gib":                                   "1007",
	} {
		if inv.Labels[k] != v {
			t.Errorf("label %s = %q, want %q", k, inv.Labels[k], v)
		}
	}
}

// TestQEMU checks the lab worker: all-zero DMI UUID rejected, id from the
// NIC's permanent MAC, the boot NIC found, the disk neither mounted nor boot.
func TestQEMU(t *testing.T) {
	dir := t.TempDir()
	buildQEMU(t, dir)
	inv := collectFixture(t, fixture{root: dir})
	if inv.Identity.Source != IDSourceMAC || inv.Identity.Value != "52:54:00:12:34:56" {
		t.Errorf("identity = %+v, want from mac 52:54:00:12:34:56", inv.Identity)
	}
	if len(inv.NICs) != 1 || !inv.NICs[0].Boot || inv.NICs[0].PCIAddress != "0000:00:02.0" || inv.NICs[0].Driver != "virtio_net" {
		t.Errorf("NICs = %+v, want only eth0, the boot NIC, virtio_net at 0000:00:02.0", inv.NICs)
	}
	if d := inv.Disks[0]; d.Boot || len(d.Mountpoints) != 0 || d.Transport != "virtio" || len(d.Partitions) != 2 || d.PartitionTable != "other" {
		t.Errorf("vda = %+v, want virtio, 2 partitions seen by the kernel, not mounted, not boot", d)
	}
	if inv.System.Hypervisor != "qemu" || len(inv.Memory.Modules) != 1 || inv.Memory.Modules[0].Type != "RAM" {
		t.Errorf("hypervisor %q, first module %+v", inv.System.Hypervisor, inv.Memory.Modules)
	}
}

// TestMissingRoot: an empty root gives an inventory full of warnings, not a failure.
func TestMissingRoot(t *testing.T) {
	inv := Collect(Options{Root: PrefixRoot(t.TempDir()), ProbeDisks: true})
	if inv.APIVersion != api.Version || inv.Kind != api.KindInventory {
		t.Errorf("apiVersion/kind = %q/%q", inv.APIVersion, inv.Kind)
	}
	if len(inv.Warnings) < 3 {
		t.Errorf("warnings = %q, want one per unreadable area", inv.Warnings)
	}
	if inv.Identity.NodeID != "" {
		t.Errorf("node id = %q from nothing", inv.Identity.NodeID)
	}
}

// TestUnreadableFiles: garbage in sysfs attributes becomes warnings and empty fields.
func TestUnreadableFiles(t *testing.T) {
	dir := t.TempDir()
	buildQEMU(t, dir)
	tr := tree{t, dir}
	vda := "sys/devices/pci0000:00/0000:00:03.0/virtio1/block/vda"
	tr.file(vda+"/size", "lots\n")
	tr.file("sys/devices/system/node/node0/distance", "10 x\n")
	tr.file("sys/firmware/dmi/tables/DMI", "\x11\x40\x00") // truncated
	tr.file("proc/cmdline", "BOOTIF=zz-zz\n")
	inv := collectFixture(t, fixture{root: dir})
	for _, want := range []string{"$ROOT/sys/block/vda/size", "distance", "smbios", "BOOTIF"} {
		if !strings.Contains(strings.Join(inv.Warnings, "\n"), want) {
			t.Errorf("no warning mentions %q: %q", want, inv.Warnings)
		}
	}
	if inv.Disks[0].SizeBytes != 0 || inv.NUMA[0].Distances != nil || inv.System.BootMAC != "" {
		t.Errorf("unreadable values not left empty: disk %+v numa %+v", inv.Disks[0], inv.NUMA[0])
	}
}

// TestWarningsSayItOnce: each wrap of an error has one owner, so no warning
// names the same path or operation twice (issue 11: a node printed
// "read /sys/block/sda/device/wwid: read /sys/block/sda/device/wwid: read
// /sys/block/sda/device/wwid: invalid argument"). Attributes that are
// directories fail in read, as wwid fails with EINVAL on a virtio-scsi disk.
func TestWarningsSayItOnce(t *testing.T) {
	dir := t.TempDir()
	buildQEMU(t, dir)
	tr := tree{t, dir}
	vda := "sys/devices/pci0000:00/0000:00:03.0/virtio1/block/vda"
	for _, p := range []string{vda + "/wwid/x", vda + "/size/x", "proc/meminfo/x", "proc/cpuinfo/x", "sys/firmware/dmi/tables/DMI/x"} {
		if err := os.RemoveAll(filepath.Join(dir, filepath.Dir(p))); err != nil {
			t.Fatal(err)
		}
		tr.file(p, "")
	}
	inv := collectFixture(t, fixture{root: dir})
	if !strings.Contains(strings.Join(inv.Warnings, "\n"), "$ROOT/sys/block/vda/wwid") {
		t.Fatalf("no warning about the unreadable wwid: %q", inv.Warnings)
	}
	for _, w := range inv.Warnings {
		if r := repeated(w); r != "" {
			t.Errorf("warning repeats %q: %s", r, w)
		}
	}
}

func TestRepeated(t *testing.T) {
	for msg, want := range map[string]string{
		"read /sys/a: read /sys/a: invalid argument":              "/sys/a",
		"disk: open $ROOT/x: stat $ROOT/y: no such file":          "",
		"read /sys/a: read /sys/b: invalid argument":              "read",
		"disk vda: probe: read $ROOT/dev/vda: input/output error": "",
	} {
		if got := repeated(msg); got != want {
			t.Errorf("repeated(%q) = %q, want %q", msg, got, want)
		}
	}
}

// repeated returns a path, or an operation applied to a path, that msg
// names more than once; "" when it names each once.
func repeated(msg string) string {
	paths, ops := map[string]bool{}, map[string]bool{}
	fields := strings.Fields(msg)
	for i, f := range fields {
		p := strings.TrimRight(f, ":,")
		if !strings.HasPrefix(p, "/") && !strings.HasPrefix(p, "$ROOT/") {
			continue
		}
		if paths[p] {
			return p
		}
		paths[p] = true
		if i > 0 {
			op := fields[i-1]
			if ops[op] {
				return op
			}
			ops[op] = true
		}
	}
	return ""
}
