package image

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"corral.io/corral/image/cpio"
	"corral.io/corral/image/elfdeps"
)

const testKver = "6.1.0-99-amd64"

// fakeKernel lays out what dpkg -x and depmod leave for a kernel package,
// with a few modules in each compression.
func fakeKernel(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	files := map[string]string{
		"boot/vmlinuz-" + testKver: "not really a kernel",
		KernelPackageFile:          "Package: linux-image-" + testKver + "\nVersion: 6.1.999-1\n",
		"lib/modules/" + testKver + "/modules.dep": "kernel/drivers/net/virtio_net.ko.xz: kernel/net/core/failover.ko.xz\n" +
			"kernel/net/core/failover.ko.xz:\n" +
			"kernel/drivers/nvme/host/nvme.ko.zst: kernel/drivers/nvme/host/nvme-core.ko\n" +
			"kernel/drivers/nvme/host/nvme-core.ko:\n" +
			"kernel/drivers/sound/unwanted.ko:\n",
		"lib/modules/" + testKver + "/modules.builtin": "kernel/fs/squashfs/squashfs.ko\n",
	}
	for _, m := range []string{"drivers/net/virtio_net.ko.xz", "net/core/failover.ko.xz", "drivers/nvme/host/nvme.ko.zst", "drivers/nvme/host/nvme-core.ko", "drivers/sound/unwanted.ko"} {
		files["lib/modules/"+testKver+"/kernel/"+m] = "module " + m
	}
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func testOptions(t *testing.T, kernelDir, out string) Options {
	t.Helper()
	if runtime.GOOS != "linux" || runtime.GOARCH != "amd64" {
		t.Skip("/bin/ls stands in for the agent: needs Debian amd64's library layout")
	}
	pci := filepath.Join(t.TempDir(), "pci.ids")
	if err := os.WriteFile(pci, []byte("8086  Intel Corporation\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return Options{
		KernelDir:       kernelDir,
		Agent:           "/bin/ls", // any dynamic program stands in for a cgo corral-agent
		OutDir:          out,
		Version:         "0.1.0-test",
		Modules:         []string{"virtio_net", "nvme", "squashfs", "ice"},
		PCIIDs:          pci,
		SourceDateEpoch: 1700000000,
		Log:             slog.New(slog.NewTextHandler(tWriter{t}, nil)),
	}
}

type tWriter struct{ t *testing.T }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

func readInitramfs(t *testing.T, p string) []byte {
	t.Helper()
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func TestBuildInitramfsHoldsExactlyTheExpectedFiles(t *testing.T) {
	out := t.TempDir()
	m, err := BuildInitramfs(testOptions(t, fakeKernel(t), out))
	if err != nil {
		t.Fatal(err)
	}
	recs, err := cpio.Read(readInitramfs(t, filepath.Join(out, InitramfsFile)))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]uint32{}
	for _, r := range recs {
		got[r.Name] = r.Mode
		if r.UID != 0 || r.GID != 0 || r.MTime != 1700000000 {
			t.Errorf("%s: uid %d gid %d mtime %d, want 0 0 1700000000", r.Name, r.UID, r.GID, r.MTime)
		}
	}

	const dir, file, exe = 0o040755, 0o100644, 0o100755
	mods := "lib/modules/" + testKver
	want := map[string]uint32{
		"init": exe, "proc": 0o040555, "sys": 0o040555, "dev": dir, "dev/console": 0o020600,
		"run": dir, "tmp": 0o041777, "etc": dir,
		"lib": dir, "lib/modules": dir, mods: dir,
		mods + "/modules.dep": file, mods + "/modules.builtin": file,
		mods + "/kernel": dir, mods + "/kernel/drivers": dir, mods + "/kernel/net": dir, mods + "/kernel/net/core": dir,
		mods + "/kernel/drivers/net": dir, mods + "/kernel/drivers/nvme": dir, mods + "/kernel/drivers/nvme/host": dir,
		mods + "/kernel/drivers/net/virtio_net.ko.xz":   file,
		mods + "/kernel/net/core/failover.ko.xz":        file,
		mods + "/kernel/drivers/nvme/host/nvme.ko.zst":  file,
		mods + "/kernel/drivers/nvme/host/nvme-core.ko": file,
		"usr": dir, "usr/share": dir, "usr/share/misc": dir, "usr/share/misc/pci.ids": file,
	}
	libs, err := elfdeps.Resolver{}.Needed("/bin/ls")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range libs {
		name := strings.TrimPrefix(l.Path, "/")
		want[name] = exe
		for d := filepath.Dir(name); d != "."; d = filepath.Dir(d) {
			want[d] = dir
		}
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("initramfs files and modes (-want +got):\n%s", diff)
	}

	// The manifest describes the files it sits beside.
	if m.APIVersion != "corral.io/v1alpha1" || m.Kind != "ImageManifest" || m.Version != "0.1.0-test" {
		t.Errorf("manifest header: %s %s %s", m.APIVersion, m.Kind, m.Version)
	}
	if diff := cmp.Diff(Kernel{Version: testKver, Package: "linux-image-" + testKver, PackageVersion: "6.1.999-1"}, m.Kernel); diff != "" {
		t.Errorf("kernel (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"ice"}, m.Initramfs.MissingModules); diff != "" {
		t.Errorf("missing modules (-want +got):\n%s", diff)
	}
	var names []string
	for _, a := range m.Artifacts {
		names = append(names, a.Name)
		data, err := os.ReadFile(filepath.Join(out, a.Name))
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(data)
		if hex.EncodeToString(sum[:]) != a.SHA256 || int64(len(data)) != a.Size {
			t.Errorf("%s: manifest says %s %d bytes, file is %x %d bytes", a.Name, a.SHA256, a.Size, sum, len(data))
		}
	}
	if diff := cmp.Diff([]string{InitramfsFile, KernelFile}, names); diff != "" {
		t.Errorf("artifacts (-want +got):\n%s", diff)
	}
	agent, _ := os.ReadFile("/bin/ls")
	if sum := sha256.Sum256(agent); m.Inputs.AgentSHA256 != hex.EncodeToString(sum[:]) {
		t.Errorf("inputs.agentSHA256 = %s, want the sha256 of /bin/ls", m.Inputs.AgentSHA256)
	}
	if back, err := ReadManifest(filepath.Join(out, ManifestFile)); err != nil {
		t.Error(err)
	} else if diff := cmp.Diff(m, back); diff != "" {
		t.Errorf("manifest.json differs from what BuildInitramfs returned (-returned +file):\n%s", diff)
	}
}

func TestTwoBuildsAreByteIdentical(t *testing.T) {
	kernel := fakeKernel(t)
	a, b := t.TempDir(), t.TempDir()
	opts := testOptions(t, kernel, a)
	if _, err := BuildInitramfs(opts); err != nil {
		t.Fatal(err)
	}
	opts.OutDir = b
	if _, err := BuildInitramfs(opts); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{InitramfsFile, ManifestFile, KernelFile} {
		x, _ := os.ReadFile(filepath.Join(a, name))
		y, _ := os.ReadFile(filepath.Join(b, name))
		if len(x) == 0 || !bytes.Equal(x, y) {
			t.Errorf("%s differs between two builds of the same inputs (%d and %d bytes)", name, len(x), len(y))
		}
	}
}

func TestRebuildReusesOrRedoes(t *testing.T) {
	kernel := fakeKernel(t)
	out := t.TempDir()
	opts := testOptions(t, kernel, out)
	if _, err := BuildInitramfs(opts); err != nil {
		t.Fatal(err)
	}
	initrd := filepath.Join(out, InitramfsFile)
	old := time.Unix(1000, 0)
	mark := func() {
		if err := os.Chtimes(initrd, old, old); err != nil {
			t.Fatal(err)
		}
	}
	rebuilt := func() bool {
		st, err := os.Stat(initrd)
		if err != nil {
			t.Fatal(err)
		}
		return !st.ModTime().Equal(old)
	}

	mark()
	if _, err := BuildInitramfs(opts); err != nil {
		t.Fatal(err)
	}
	if rebuilt() {
		t.Error("unchanged inputs: initrd.img was rewritten")
	}

	// Another version, another epoch, a damaged artifact: each rebuilds.
	for name, change := range map[string]func(o *Options){
		"version": func(o *Options) { o.Version = "0.2.0" },
		"epoch":   func(o *Options) { o.SourceDateEpoch = 1 },
		"modules": func(o *Options) { o.Modules = []string{"nvme"} },
		"damaged artifact": func(o *Options) {
			if err := os.WriteFile(filepath.Join(out, KernelFile), []byte("x"), 0o644); err != nil {
				t.Fatal(err)
			}
		},
	} {
		t.Run(name, func(t *testing.T) {
			o := opts
			change(&o)
			mark()
			if _, err := BuildInitramfs(o); err != nil {
				t.Fatal(err)
			}
			if !rebuilt() {
				t.Errorf("%s changed: initrd.img was not rebuilt", name)
			}
		})
	}
}

func TestBuildWithoutPCIIDs(t *testing.T) {
	out := t.TempDir()
	opts := testOptions(t, fakeKernel(t), out)
	opts.PCIIDs = filepath.Join(t.TempDir(), "absent")
	m, err := BuildInitramfs(opts)
	if err != nil {
		t.Fatal(err)
	}
	if m.Initramfs.PCIIDs || m.Inputs.PCIIDsSHA256 != "" {
		t.Errorf("pci.ids recorded though absent: %+v", m.Initramfs)
	}
	recs, err := cpio.Read(readInitramfs(t, filepath.Join(out, InitramfsFile)))
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		if strings.HasPrefix(r.Name, "usr") {
			t.Errorf("%s in the initramfs without pci.ids", r.Name)
		}
	}
}

func TestBuildErrorsSayWhatToDo(t *testing.T) {
	empty := t.TempDir()
	noDep := fakeKernel(t)
	if err := os.Remove(filepath.Join(noDep, "lib/modules", testKver, "modules.dep")); err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct {
		kernel, agent, want string
	}{
		"no kernel":      {empty, "/bin/ls", "fetch-kernel.sh"},
		"no modules.dep": {noDep, "/bin/ls", "depmod"},
		"no agent":       {fakeKernel(t), "/nonexistent/corral-agent", "/nonexistent/corral-agent"},
	} {
		t.Run(name, func(t *testing.T) {
			opts := testOptions(t, tc.kernel, t.TempDir())
			opts.Agent = tc.agent
			_, err := BuildInitramfs(opts)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want one mentioning %q", err, tc.want)
			}
		})
	}
}

// TestGNUCpioListsTheDebianKernelImage builds from the real Debian kernel
// that image/fetch-kernel.sh unpacked, reads the result with GNU cpio, and
// reports its size and build time.
func TestGNUCpioListsTheDebianKernelImage(t *testing.T) {
	found, _ := filepath.Glob("../.cache/kernel/linux-image-*/" + KernelPackageFile)
	if len(found) == 0 {
		t.Skip("no Debian kernel in .cache/kernel: run image/fetch-kernel.sh (or make image)")
	}
	if _, err := exec.LookPath("cpio"); err != nil {
		t.Skip("cpio is not installed (apt-get install cpio)")
	}
	if testing.Short() {
		t.Skip("compresses tens of MB")
	}
	out := t.TempDir()
	opts := testOptions(t, filepath.Dir(found[0]), out)
	opts.Modules = nil // the default list
	opts.PCIIDs = ""   // the host's, if any
	start := time.Now()
	m, err := BuildInitramfs(opts)
	if err != nil {
		t.Fatal(err)
	}
	initrd, _ := m.Artifact(InitramfsFile)
	t.Logf("kernel %s (%s %s): initrd.img %d bytes, %d modules, built in %v",
		m.Kernel.Version, m.Kernel.Package, m.Kernel.PackageVersion, initrd.Size, len(m.Initramfs.Modules), time.Since(start).Round(time.Millisecond))
	if len(m.Initramfs.MissingModules) != 0 {
		t.Errorf("missing modules %v: Debian's kernel has them all", m.Initramfs.MissingModules)
	}

	cmd := exec.Command("cpio", "-it", "--quiet")
	cmd.Stdin = bytes.NewReader(readInitramfs(t, filepath.Join(out, InitramfsFile)))
	list, err := cmd.Output()
	if err != nil {
		t.Fatalf("cpio -it: %v", err)
	}
	names := strings.Fields(string(list))
	if !sort.StringsAreSorted(names) {
		t.Error("cpio -it: entries are not sorted")
	}
	have := map[string]bool{}
	for _, n := range names {
		have[n] = true
	}
	for _, mod := range m.Initramfs.Modules {
		if !have["lib/modules/"+m.Kernel.Version+"/"+mod] {
			t.Errorf("cpio -it does not list module %s", mod)
		}
	}
	for _, n := range []string{"init", "dev/console", "lib/modules/" + m.Kernel.Version + "/modules.dep", "lib64/ld-linux-x86-64.so.2", "lib/x86_64-linux-gnu/libc.so.6"} {
		if !have[n] {
			t.Errorf("cpio -it does not list %s", n)
		}
	}
}
