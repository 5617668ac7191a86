package pid1

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"
)

// testdata/modules.dep holds the lines of Debian bookworm's 6.1.0-56-amd64
// modules.dep for virtio_net, nvme, e1000e, overlay, squashfs and all they
// need; testdata/modules.builtin the first lines of its modules.builtin.
// That kernel ships its modules uncompressed; compressed names are added
// where a test needs them.

func TestModuleName(t *testing.T) {
	for in, want := range map[string]string{
		"kernel/drivers/nvme/host/nvme-core.ko.xz": "nvme_core",
		"kernel/fs/squashfs/squashfs.ko":           "squashfs",
		"mlx5_core.ko.zst":                         "mlx5_core",
		"nvme-core":                                "nvme_core",
	} {
		if got := ModuleName(in); got != want {
			t.Errorf("ModuleName(%q) = %q, want %q", in, got, want)
		}
	}
}

func readDep(t *testing.T) map[string]Module {
	t.Helper()
	b, err := os.ReadFile("testdata/modules.dep")
	if err != nil {
		t.Fatal(err)
	}
	dep, err := ParseModulesDep(b)
	if err != nil {
		t.Fatal(err)
	}
	return dep
}

func TestParseModulesDep(t *testing.T) {
	dep := readDep(t)
	want := Module{Name: "virtio_net", Path: "kernel/drivers/net/virtio_net.ko",
		Deps: []string{"kernel/drivers/net/net_failover.ko", "kernel/net/core/failover.ko", "kernel/drivers/virtio/virtio.ko", "kernel/drivers/virtio/virtio_ring.ko"}}
	if d := cmp.Diff(want, dep["virtio_net"]); d != "" {
		t.Errorf("virtio_net (-want +got):\n%s", d)
	}
	if len(dep) != 15 {
		t.Errorf("got %d modules, want 15", len(dep))
	}
	if _, err := ParseModulesDep([]byte("ok.ko:\nno colon here\n")); err == nil || !strings.Contains(err.Error(), "line 2") {
		t.Errorf("malformed line: err %v, want one naming line 2", err)
	}
}

func TestLoadOrder(t *testing.T) {
	paths, missing := LoadOrder(readDep(t), []string{"virtio_net", "nvme", "net_failover", "ice"})
	want := []string{
		"kernel/drivers/virtio/virtio_ring.ko", // dependencies first, last listed first (as modprobe)
		"kernel/drivers/virtio/virtio.ko",
		"kernel/net/core/failover.ko",
		"kernel/drivers/net/net_failover.ko",
		"kernel/drivers/net/virtio_net.ko",
		"kernel/crypto/crct10dif_common.ko",
		"kernel/lib/crc64.ko",
		"kernel/lib/crc-t10dif.ko",
		"kernel/lib/crc64-rocksoft.ko",
		"kernel/block/t10-pi.ko",
		"kernel/drivers/nvme/host/nvme-core.ko",
		"kernel/drivers/nvme/host/nvme.ko",
	}
	if d := cmp.Diff(want, paths); d != "" {
		t.Errorf("order (-want +got):\n%s", d)
	}
	if d := cmp.Diff([]string{"ice"}, missing); d != "" {
		t.Errorf("missing (-want +got):\n%s", d)
	}
}

func TestLoadModules(t *testing.T) {
	dir, sys := t.TempDir(), t.TempDir()
	dep, _ := os.ReadFile("testdata/modules.dep")
	builtin, _ := os.ReadFile("testdata/modules.builtin")
	// A compressed module, as newer Debian kernels ship them.
	dep = append(dep, "kernel/drivers/net/ethernet/intel/ice/ice.ko.xz:\n"...)
	files := map[string]string{"modules.dep": string(dep), "modules.builtin": string(builtin)}
	parsed, err := ParseModulesDep(dep)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range parsed {
		files[m.Path] = "module " + m.Name
	}
	for p, s := range files {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, p)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, p), []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// virtio and virtio_ring are loaded already; overlay is loaded
	// concurrently by something else (EEXIST).
	for _, m := range []string{"virtio", "virtio_ring"} {
		if err := os.MkdirAll(filepath.Join(sys, "module", m), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	var calls []string
	fake := func(f *os.File, compressed bool) error {
		b, _ := os.ReadFile(f.Name())
		name := strings.TrimPrefix(string(b), "module ")
		if compressed != strings.HasSuffix(f.Name(), ".ko.xz") {
			t.Errorf("%s: compressed=%v", f.Name(), compressed)
		}
		calls = append(calls, name)
		switch name {
		case "overlay":
			return unix.EEXIST
		case "e1000e":
			return unix.ENOEXEC
		}
		return nil
	}
	rep, err := LoadModules(ModuleOptions{Dir: dir, Sys: sys, Finit: fake,
		Names: []string{"zswap", "virtio_net", "overlay", "squashfs", "ixgbe", "e1000e", "ice"}})
	if err == nil || !strings.Contains(err.Error(), "load module e1000e") {
		t.Errorf("err %v, want one naming e1000e", err)
	}
	if d := cmp.Diff([]string{"failover", "net_failover", "virtio_net", "overlay", "squashfs", "e1000e", "ice"}, calls); d != "" {
		t.Errorf("finit calls (-want +got):\n%s", d)
	}
	want := ModuleReport{
		Loaded:  []string{"failover", "net_failover", "virtio_net", "squashfs", "ice"},
		Present: []string{"zswap", "virtio_ring", "virtio", "overlay"},
		Missing: []string{"ixgbe"},
	}
	if d := cmp.Diff(want, rep); d != "" {
		t.Errorf("report (-want +got):\n%s", d)
	}
}

func TestLoadModulesWithoutIndexSaysWhere(t *testing.T) {
	dir := t.TempDir()
	_, err := LoadModules(ModuleOptions{Dir: dir, Names: []string{"virtio_net"}})
	if err == nil || !strings.Contains(err.Error(), dir) {
		t.Errorf("err %v, want one naming %s", err, dir)
	}
}

func FuzzParseModulesDep(f *testing.F) {
	if b, err := os.ReadFile("testdata/modules.dep"); err == nil {
		f.Add(b)
	}
	f.Add([]byte("a.ko: b.ko c.ko\nb.ko:\n"))
	f.Add([]byte(": x\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		dep, err := ParseModulesDep(b)
		if err != nil {
			return
		}
		names := make([]string, 0, len(dep))
		for n, m := range dep {
			if n != ModuleName(m.Path) {
				t.Errorf("module %q stored under %q", m.Path, n)
			}
			names = append(names, n)
		}
		paths, missing := LoadOrder(dep, names)
		if len(missing) != 0 {
			t.Errorf("known modules reported missing: %v", missing)
		}
		seen := map[string]bool{}
		for _, p := range paths {
			if seen[p] {
				t.Errorf("%s loaded twice", p)
			}
			seen[p] = true
		}
	})
}

// TestLoadModulesRealSyscallRefusesGarbage goes through finit_module(2) with
// files that are not modules: the kernel refuses them (ENOEXEC, EPERM without
// CAP_SYS_MODULE, …), so nothing on the host changes, and the error names
// the module.
func TestLoadModulesRealSyscallRefusesGarbage(t *testing.T) {
	dir := t.TempDir()
	files := map[string]string{
		"modules.dep":                    "kernel/corral_garbage.ko:\nkernel/corral_garbage_xz.ko.xz:\n",
		"kernel/corral_garbage.ko":       "not an ELF module",
		"kernel/corral_garbage_xz.ko.xz": "not xz either",
	}
	for p, s := range files {
		_ = os.MkdirAll(filepath.Dir(filepath.Join(dir, p)), 0o755)
		if err := os.WriteFile(filepath.Join(dir, p), []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	rep, err := LoadModules(ModuleOptions{Dir: dir, Sys: t.TempDir(), Names: []string{"corral_garbage", "corral-garbage-xz"}})
	t.Logf("kernel said: %v", err)
	for _, name := range []string{"load module corral_garbage:", "load module corral_garbage_xz:"} {
		if err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("err %v, want one containing %q", err, name)
		}
	}
	if len(rep.Loaded) != 0 {
		t.Errorf("loaded %v", rep.Loaded)
	}
}
