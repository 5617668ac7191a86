package modules

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestName(t *testing.T) {
	for in, want := range map[string]string{
		"kernel/drivers/net/virtio_net.ko":              "virtio_net",
		"kernel/drivers/net/virtio_net.ko.xz":           "virtio_net",
		"kernel/drivers/net/virtio_net.ko.zst":          "virtio_net",
		"kernel/drivers/net/virtio_net.ko.gz":           "virtio_net",
		"kernel/drivers/nvme/host/nvme-core.ko":         "nvme_core",
		"kernel/drivers/pci/controller/pci-hyperv-intf": "",
		"modules.dep":  "",
		"kernel/.ko":   "",
		"a.ko.bz2":     "",
		"kernel/x.kox": "",
	} {
		if got := Name(in); got != want {
			t.Errorf("Name(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestResolveSynthetic(t *testing.T) {
	ix, err := Load(os.DirFS("testdata/synthetic"))
	if err != nil {
		t.Fatal(err)
	}
	res := ix.Resolve([]string{"virtio_net", "virtio-blk", "virtio_pci", "mlx5_core", "nvme", "ahci", "squashfs", "loop", "ice", "virtio_net"})

	var got []string
	for _, m := range res.Modules {
		got = append(got, m.Path)
	}
	want := []string{
		// virtio_net: its dependencies from the last listed to the first
		"kernel/drivers/virtio/virtio.ko.xz",
		"kernel/drivers/virtio/virtio_ring.ko.xz",
		"kernel/net/core/failover.ko.xz",
		"kernel/drivers/net/net_failover.ko.xz",
		"kernel/drivers/net/virtio_net.ko.xz",
		// virtio_blk (asked for as virtio-blk) shares virtio and virtio_ring
		"kernel/drivers/block/virtio_blk.ko.xz",
		"kernel/drivers/pci/controller/pci-hyperv-intf.ko",
		"kernel/net/psample/psample.ko.zst",
		"kernel/drivers/net/ethernet/mellanox/mlxfw/mlxfw.ko.zst",
		"kernel/drivers/net/ethernet/mellanox/mlx5/core/mlx5_core.ko.zst",
		"kernel/drivers/nvme/host/nvme-core.ko",
		"kernel/drivers/nvme/host/nvme.ko",
		"kernel/drivers/ata/libahci.ko",
		"kernel/drivers/ata/ahci.ko",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("modules in load order (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"loop", "squashfs", "virtio_pci"}, res.Builtin); diff != "" {
		t.Errorf("builtin (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"ice"}, res.Missing); diff != "" {
		t.Errorf("missing (-want +got):\n%s", diff)
	}

	// The subset's modules.dep parses back to the same modules.
	deps, err := ParseDep(bytes.NewReader(res.DepFile()))
	if err != nil {
		t.Fatal(err)
	}
	if len(deps) != len(res.Modules) || deps[4].Path != "kernel/drivers/net/virtio_net.ko.xz" || len(deps[4].Deps) != 4 {
		t.Errorf("DepFile round trip: %+v", deps)
	}
}

func TestLoadWithoutModulesDepSaysHowToMakeOne(t *testing.T) {
	_, err := Load(os.DirFS(t.TempDir()))
	if err == nil || !strings.Contains(err.Error(), "depmod") {
		t.Errorf("err = %v, want one that mentions depmod", err)
	}
}

func TestParseDepRejects(t *testing.T) {
	for name, in := range map[string]string{
		"a line without a colon":   "kernel/a.ko\n",
		"an absolute path":         "/lib/modules/a.ko:\n",
		"a path that climbs out":   "kernel/a.ko: ../../etc/shadow.ko\n",
		"a path that is no module": "kernel/a.ko: kernel/b.txt\n",
		"a module listed twice":    "kernel/a.ko:\nkernel/a.ko:\n",
		"an empty path":            ": kernel/a.ko\n",
	} {
		t.Run(name, func(t *testing.T) {
			if deps, err := ParseDep(strings.NewReader(in)); err == nil {
				t.Errorf("ParseDep(%q) = %+v, want an error", in, deps)
			}
		})
	}
}

func TestNewIndexRejectsTwoFilesForOneModule(t *testing.T) {
	_, err := NewIndex([]Dep{{Path: "kernel/a/foo.ko"}, {Path: "kernel/b/foo.ko.xz"}}, nil)
	if err == nil {
		t.Error("NewIndex accepted two files for module foo")
	}
}

func TestResolveSurvivesACycle(t *testing.T) {
	ix, err := NewIndex([]Dep{
		{Path: "a.ko", Deps: []string{"b.ko"}},
		{Path: "b.ko", Deps: []string{"a.ko"}},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res := ix.Resolve([]string{"a"}); len(res.Modules) != 2 {
		t.Errorf("modules = %+v, want a and b once each", res.Modules)
	}
}

// TestResolveDebianKernel resolves Default on the real modules.dep of the
// Debian kernel image/fetch-kernel.sh unpacked.
func TestResolveDebianKernel(t *testing.T) {
	dirs, _ := filepath.Glob("../../.cache/kernel/linux-image-*/lib/modules/*/modules.dep")
	if len(dirs) == 0 {
		t.Skip("no Debian kernel in .cache/kernel: run image/fetch-kernel.sh (or make image)")
	}
	root := filepath.Dir(dirs[0])
	ix, err := Load(os.DirFS(root))
	if err != nil {
		t.Fatal(err)
	}
	res := ix.Resolve(Default)
	t.Logf("%s: %d modules, built in %v, missing %v", root, len(res.Modules), res.Builtin, res.Missing)
	names := map[string]bool{}
	for _, m := range res.Modules {
		names[m.Name] = true
		if _, err := os.Stat(filepath.Join(root, m.Path)); err != nil {
			t.Errorf("module %s: %v", m.Name, err)
		}
	}
	for _, n := range []string{"virtio_net", "virtio_blk", "nvme", "ahci", "mlx5_core", "overlay", "squashfs", "loop", "ice", "i40e"} {
		if !names[n] && !slices.Contains(res.Builtin, n) {
			t.Errorf("%s neither resolved nor built in", n)
		}
	}
	if len(res.Missing) != 0 {
		t.Errorf("missing %v: Debian's kernel has all of Default", res.Missing)
	}
}

func FuzzParseDep(f *testing.F) {
	seed, err := os.ReadFile("testdata/synthetic/modules.dep")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(seed)
	f.Add([]byte("kernel/a.ko:\n# comment\n\n"))
	f.Add([]byte("kernel/a.ko kernel/b.ko\n"))
	f.Add([]byte("kernel/a.ko.zst:kernel/b-c.ko.xz\tkernel/d.ko\r\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		deps, err := ParseDep(bytes.NewReader(data))
		if err != nil {
			return
		}
		// What parses formats and parses back to the same lines, and
		// resolving it (cycles and all) terminates.
		again, err := ParseDep(bytes.NewReader(FormatDep(deps)))
		if err != nil {
			t.Fatalf("formatted modules.dep does not parse: %v", err)
		}
		if diff := cmp.Diff(deps, again); diff != "" {
			t.Fatalf("round trip (-first +second):\n%s", diff)
		}
		ix, err := NewIndex(deps, nil)
		if err != nil {
			return
		}
		var names []string
		for _, d := range deps {
			names = append(names, Name(d.Path))
		}
		ix.Resolve(names)
	})
}

func TestUnder(t *testing.T) {
	deps := []Dep{
		{Path: "kernel/net/netfilter/nf_conntrack.ko"},
		{Path: "kernel/net/netfilter/ipset/ip_set.ko"},
		{Path: "kernel/net/netfilterx/other.ko"},
		{Path: "kernel/drivers/net/veth.ko"},
		{Path: "kernel/fs/xfs/xfs.ko.xz"},
	}
	ix, err := NewIndex(deps, nil)
	if err != nil {
		t.Fatal(err)
	}
	got := ix.Under([]string{"kernel/net/netfilter/", "kernel/drivers/net/veth.ko", "kernel/fs/xfs", "kernel/none"})
	want := []string{"ip_set", "nf_conntrack", "veth", "xfs"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Under (-want +got):\n%s", diff)
	}
}
