package pid1

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"
)

// testdata/modules.dep is written in the shape of a Debian kernel's
// modules.dep (xz-compressed modules, paths relative to the modules
// directory), with virtio_net's and nvme's real dependency chains; one
// uncompressed module checks that no decompression is asked for it.

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
	want := Module{Name: "virtio_net", Path: "kernel/drivers/net/virtio_net.ko.xz",
		Deps: []string{"kernel/drivers/net/net_failover.ko.xz", "kernel/net/core/failover.ko.xz"}}
	if d := cmp.Diff(want, dep["virtio_net"]); d != "" {
		t.Errorf("virtio_net (-want +got):\n%s", d)
	}
	if len(dep) != 8 {
		t.Errorf("got %d modules, want 8", len(dep))
	}
	if _, err := ParseModulesDep([]byte("ok.ko:\nno colon here\n")); err == nil || !strings.Contains(err.Error(), "line 2") {
		t.Errorf("malformed line: err %v, want one naming line 2", err)
	}
}

func TestLoadOrder(t *testing.T) {
	paths, missing := LoadOrder(readDep(t), []string{"virtio_net", "nvme", "net_failover", "ice"})
	want := []string{
		"kernel/net/core/failover.ko.xz", // dependencies first, last listed first (as modprobe)
		"kernel/drivers/net/net_failover.ko.xz",
		"kernel/drivers/net/virtio_net.ko.xz",
		"kernel/drivers/nvme/host/nvme-core.ko.xz",
		"kernel/drivers/nvme/host/nvme.ko.xz",
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
	files := map[string]string{"modules.dep": string(dep), "modules.builtin": "kernel/drivers/block/loop.ko\n"}
	for _, m := range readDep(t) {
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
	// failover is loaded already; overlay loads concurrently elsewhere (EEXIST).
	if err := os.MkdirAll(filepath.Join(sys, "module", "failover"), 0o755); err != nil {
		t.Fatal(err)
	}
	var calls []string
	fake := func(f *os.File, compressed bool) error {
		b, _ := os.ReadFile(f.Name())
		name := strings.TrimPrefix(string(b), "module ")
		if compressed != strings.HasSuffix(f.Name(), ".xz") {
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
		Names: []string{"loop", "virtio_net", "overlay", "squashfs", "ixgbe", "e1000e"}})
	if err == nil || !strings.Contains(err.Error(), "load module e1000e") {
		t.Errorf("err %v, want one naming e1000e", err)
	}
	if d := cmp.Diff([]string{"net_failover", "virtio_net", "overlay", "squashfs", "e1000e"}, calls); d != "" {
		t.Errorf("finit calls (-want +got):\n%s", d)
	}
	want := ModuleReport{
		Loaded:  []string{"net_failover", "virtio_net", "squashfs"},
		Present: []string{"loop", "failover", "overlay"},
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
