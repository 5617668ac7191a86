package image

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"corral.io/corral/agent/k3s"
	"corral.io/corral/agent/rootfs"
)

func TestAgentPathsAgree(t *testing.T) {
	if "/"+AgentInRootfs != rootfs.AgentPath {
		t.Errorf("the image puts the agent at /%s, stage 1 execs %s", AgentInRootfs, rootfs.AgentPath)
	}
}

func TestParseDeb822Sources(t *testing.T) {
	in := `Types: deb
# http://snapshot.debian.org/archive/debian/20250520T000000Z
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb-src
URIs: http://src.example/debian
Suites: bookworm

Types: deb
URIs: http://off.example/debian
Suites: bookworm
Enabled: no

Types: deb deb-src
URIs: http://deb.debian.org/debian-security
Suites: bookworm-security
`
	want := []AptSource{
		{URI: "http://deb.debian.org/debian", Suites: []string{"bookworm", "bookworm-updates"}},
		{URI: "http://deb.debian.org/debian-security", Suites: []string{"bookworm-security"}},
	}
	if diff := cmp.Diff(want, ParseDeb822Sources(in)); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestParseSourcesList(t *testing.T) {
	in := `# comment
deb [arch=amd64 signed-by=/k.gpg] http://mirror.example/debian bookworm main contrib
deb-src http://mirror.example/debian bookworm main
deb http://security.debian.org/debian-security bookworm-security main # trailing
deb broken
`
	want := []AptSource{
		{URI: "http://mirror.example/debian", Suites: []string{"bookworm"}},
		{URI: "http://security.debian.org/debian-security", Suites: []string{"bookworm-security"}},
	}
	if diff := cmp.Diff(want, ParseSourcesList(in)); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestHostMirror(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "sources.list.d"), 0o755); err != nil {
		t.Fatal(err)
	}
	write := func(name, s string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := HostMirror(dir, "bookworm"); err == nil || !strings.Contains(err.Error(), "MIRROR=") {
		t.Errorf("no sources: err = %v, want one naming MIRROR=", err)
	}
	write("sources.list.d/other.list", "deb https://packages.example/apt stable main\n")
	write("sources.list.d/debian.sources", "Types: deb\nURIs: http://deb.example/debian\nSuites: bookworm\n")
	got, err := HostMirror(dir, "bookworm")
	if err != nil || got != "http://deb.example/debian" {
		t.Errorf("HostMirror = %q, %v", got, err)
	}
	// Another suite: the Debian-looking source.
	if got, err := HostMirror(dir, "trixie"); err != nil || got != "http://deb.example/debian" {
		t.Errorf("HostMirror(trixie) = %q, %v", got, err)
	}
}

func TestParsePackages(t *testing.T) {
	got, err := parsePackages([]byte("zlib1g\t1:1.2.13.dfsg-1\nbase-files\t12.4+deb12u15\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := []Package{{Name: "base-files", Version: "12.4+deb12u15"}, {Name: "zlib1g", Version: "1:1.2.13.dfsg-1"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	for _, bad := range []string{"", "no-tab\n", "name\t\n"} {
		if _, err := parsePackages([]byte(bad)); err == nil {
			t.Errorf("parsePackages(%q) succeeded", bad)
		}
	}
}

func TestDebootstrapPhase(t *testing.T) {
	for line, want := range map[string]string{
		"I: Retrieving libc6 2.36-9":             "Retrieving",
		"I: Configuring apt...":                  "Configuring",
		"I: Base system installed successfully.": "Base",
		"W: Failure trying to run":               "",
		"":                                       "",
	} {
		if got := debootstrapPhase(line); got != want {
			t.Errorf("debootstrapPhase(%q) = %q, want %q", line, got, want)
		}
	}
}

func TestTreeKeyChangesWithEveryInput(t *testing.T) {
	base := RootfsInputs{Recipe: 1, Suite: "bookworm", Variant: "minbase", Mirror: "http://m/debian", Packages: []string{"kmod"}}
	seen := map[string]string{treeKey(base): "base"}
	for name, in := range map[string]RootfsInputs{
		"suite":    {Recipe: 1, Suite: "trixie", Variant: "minbase", Mirror: "http://m/debian", Packages: []string{"kmod"}},
		"mirror":   {Recipe: 1, Suite: "bookworm", Variant: "minbase", Mirror: "http://n/debian", Packages: []string{"kmod"}},
		"packages": {Recipe: 1, Suite: "bookworm", Variant: "minbase", Mirror: "http://m/debian", Packages: []string{"kmod", "gdisk"}},
	} {
		k := treeKey(in)
		if other, dup := seen[k]; dup {
			t.Errorf("changing the %s gives the key of %s", name, other)
		}
		seen[k] = name
	}
	// Installed versions and k3s do not name the tree: they come after it.
	in := base
	in.Installed, in.K3sSHA256 = []Package{{Name: "a", Version: "1"}}, "x"
	if treeKey(in) != treeKey(base) {
		t.Error("the key depends on what debootstrap produced")
	}
}

func TestResolveK3s(t *testing.T) {
	bin := []byte("not really k3s")
	s := sha256.Sum256(bin)
	sum := hex.EncodeToString(s[:])
	good := filepath.Join(t.TempDir(), "k3s")
	if err := os.WriteFile(good, bin, 0o755); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/k3s" {
			_, _ = w.Write(bin)
			return
		}
		http.NotFound(w, r)
	}))
	t.Cleanup(srv.Close)
	ctx := context.Background()

	t.Run("K3S_BINARY with the pinned digest", func(t *testing.T) {
		p, k, err := ResolveK3s(ctx, K3sSource{Binary: good, SHA256: sum}, slog.New(slog.DiscardHandler))
		if err != nil || p != good || !k.Included || k.SHA256 != sum {
			t.Errorf("= %q, %+v, %v", p, k, err)
		}
	})
	t.Run("K3S_BINARY with another digest", func(t *testing.T) {
		_, _, err := ResolveK3s(ctx, K3sSource{Binary: good}, slog.New(slog.DiscardHandler))
		if err == nil || !strings.Contains(err.Error(), "not the pinned "+K3sSHA256) || !strings.Contains(err.Error(), sum) {
			t.Errorf("err = %v, want one naming both digests", err)
		}
	})
	t.Run("download, then the cache", func(t *testing.T) {
		cache := t.TempDir()
		src := K3sSource{CacheDir: cache, URL: srv.URL + "/k3s", SHA256: sum}
		p, k, err := ResolveK3s(ctx, src, slog.New(slog.DiscardHandler))
		if err != nil || !k.Included || p != filepath.Join(cache, "k3s-"+K3sVersion) {
			t.Fatalf("= %q, %+v, %v", p, k, err)
		}
		srv.Close() // the second build finds it in the cache
		if p2, k2, err := ResolveK3s(ctx, src, slog.New(slog.DiscardHandler)); err != nil || p2 != p || !k2.Included {
			t.Errorf("from the cache: %q, %+v, %v", p2, k2, err)
		}
	})
	t.Run("neither: one line, without k3s", func(t *testing.T) {
		var logs bytes.Buffer
		p, k, err := ResolveK3s(ctx, K3sSource{CacheDir: t.TempDir(), URL: "http://127.0.0.1:1/k3s", SHA256: sum}, slog.New(slog.NewTextHandler(&logs, nil)))
		if err != nil || p != "" || k.Included || !strings.Contains(k.Reason, "download from http://127.0.0.1:1/k3s failed") {
			t.Errorf("= %q, %+v, %v", p, k, err)
		}
		if n := strings.Count(logs.String(), "\n"); n != 1 || !strings.Contains(logs.String(), "WITHOUT k3s") || !strings.Contains(logs.String(), "K3S_BINARY") {
			t.Errorf("%d log lines, want one saying WITHOUT k3s and how to fix it:\n%s", n, logs.String())
		}
	})
	t.Run("wrong download is not kept", func(t *testing.T) {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("tampered")) }))
		defer srv.Close()
		cache := t.TempDir()
		_, k, err := ResolveK3s(ctx, K3sSource{CacheDir: cache, URL: srv.URL, SHA256: sum}, slog.New(slog.DiscardHandler))
		if err != nil || k.Included {
			t.Errorf("= %+v, %v", k, err)
		}
		if left, _ := os.ReadDir(cache); len(left) != 0 {
			t.Errorf("cache holds %v after a bad download", left)
		}
	})
}

// seedTree puts a small tree where debootstrapTree looks for the cached
// debootstrap result of in, so the whole build runs without debootstrap.
func seedTree(t *testing.T, cache string, in RootfsInputs) string {
	t.Helper()
	dir := filepath.Join(cache, "rootfs", treeKey(in))
	for name, content := range map[string]string{
		"root/etc/os-release":      "ID=debian\n",
		"root/usr/bin/true":        "#!/bin/sh\n",
		"root/usr/local/bin/.keep": "",
		"packages.tsv":             "base-files\t12.4+deb12u15\nkmod\t30+20221128-1\n",
	} {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return filepath.Join(dir, "root")
}

// TestBuildWithRootfs runs the whole build with a cached tree (no
// debootstrap) and the real mksquashfs: the squashfs holds the tree and the
// agent, the manifest says without k3s, a second build reuses everything,
// and a build into another directory is byte-identical.
func TestBuildWithRootfs(t *testing.T) {
	if _, err := exec.LookPath("mksquashfs"); err != nil {
		t.Skip("mksquashfs is not installed (apt-get install squashfs-tools)")
	}
	if _, err := exec.LookPath("unsquashfs"); err != nil {
		t.Skip("unsquashfs is not installed (apt-get install squashfs-tools)")
	}
	kernel := fakeKernel(t)
	cache := t.TempDir()
	ro := &RootfsOptions{Mirror: "http://mirror.example/debian", Packages: []string{"kmod"}, CacheDir: cache, K3s: K3sSource{Offline: true},
		ModuleDirs: []string{"kernel/drivers/sound"}}
	tree := seedTree(t, cache, RootfsInputs{Suite: DefaultSuite, Variant: "minbase", Mirror: ro.Mirror, Packages: ro.Packages})

	out1, out2 := t.TempDir(), t.TempDir()
	o := testOptions(t, kernel, out1)
	o.Rootfs = ro
	m, err := BuildInitramfs(o)
	if err != nil {
		t.Fatal(err)
	}
	a, ok := m.Artifact(RootfsFile)
	if !ok || a.Size == 0 {
		t.Fatalf("no %s in the manifest: %+v", RootfsFile, m.Artifacts)
	}
	if m.K3s == nil || m.K3s.Included || m.K3s.Version != K3sVersion || !strings.Contains(m.K3s.Reason, "download disabled") {
		t.Errorf("k3s = %+v, want not included, with the reason", m.K3s)
	}
	in := m.Inputs.Rootfs
	if in == nil || in.Mirror != ro.Mirror || len(in.Installed) != 2 || in.Installed[1] != (Package{Name: "kmod", Version: "30+20221128-1"}) || in.Compression != "zstd" {
		t.Errorf("rootfs inputs %+v", in)
	}

	list, err := exec.Command("unsquashfs", "-lln", filepath.Join(out1, RootfsFile)).Output()
	if err != nil {
		t.Fatal(err)
	}
	mods := "squashfs-root/lib/modules/" + testKver + "/"
	for _, want := range []string{"squashfs-root/etc/os-release", "squashfs-root/" + AgentInRootfs, "-rwxr-xr-x 0/0",
		// the initramfs' modules with their dependencies, and ModuleDirs
		mods + "kernel/drivers/net/virtio_net.ko.xz", mods + "kernel/net/core/failover.ko.xz", mods + "kernel/drivers/sound/unwanted.ko",
		mods + "modules.dep", mods + "modules.builtin", "squashfs-root/etc/hosts", "squashfs-root/etc/mtab -> ../proc/self/mounts"} {
		if !strings.Contains(string(list), want) {
			t.Errorf("unsquashfs -lln lacks %q:\n%s", want, list)
		}
	}
	if strings.Contains(string(list), "usr/local/bin/k3s") {
		t.Error("k3s in an image built without it")
	}
	// The cached tree is not changed by staging.
	if _, err := os.Stat(filepath.Join(tree, AgentInRootfs)); err == nil {
		t.Error("the agent was written into the cached tree")
	}

	// Same inputs: nothing rebuilt (the squashfs keeps its mtime).
	st1, _ := os.Stat(filepath.Join(out1, RootfsFile))
	time.Sleep(10 * time.Millisecond)
	if _, err := BuildInitramfs(o); err != nil {
		t.Fatal(err)
	}
	st2, _ := os.Stat(filepath.Join(out1, RootfsFile))
	if !st1.ModTime().Equal(st2.ModTime()) {
		t.Error("rootfs.squashfs rebuilt with unchanged inputs")
	}

	o.OutDir = out2
	if _, err := BuildInitramfs(o); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{RootfsFile, InitramfsFile, ManifestFile} {
		b1, _ := os.ReadFile(filepath.Join(out1, f))
		b2, _ := os.ReadFile(filepath.Join(out2, f))
		if !bytes.Equal(b1, b2) {
			t.Errorf("%s differs between two builds of the same inputs", f)
		}
	}

	// A changed rootfs.squashfs is rebuilt, even with unchanged inputs.
	if err := os.WriteFile(filepath.Join(out1, RootfsFile), []byte("tampered"), 0o644); err != nil {
		t.Fatal(err)
	}
	o.OutDir = out1
	if _, err := BuildInitramfs(o); err != nil {
		t.Fatal(err)
	}
	if sum, _ := sha256File(filepath.Join(out1, RootfsFile)); sum != a.SHA256 {
		t.Error("a tampered rootfs.squashfs was not rebuilt")
	}
	if left, _ := filepath.Glob(filepath.Join(out1, ".*")); len(left) != 0 {
		t.Errorf("temporary files left: %v", left)
	}

	// Another SOURCE_DATE_EPOCH is another image.
	o.OutDir, o.SourceDateEpoch = t.TempDir(), 1
	m3, err := BuildInitramfs(o)
	if err != nil {
		t.Fatal(err)
	}
	if a3, _ := m3.Artifact(RootfsFile); a3.SHA256 == a.SHA256 {
		t.Error("SOURCE_DATE_EPOCH does not reach the squashfs")
	}
}

func FuzzParseSources(f *testing.F) {
	f.Add("Types: deb\nURIs: http://deb.debian.org/debian\nSuites: bookworm\n\n")
	f.Add("deb [arch=amd64 signed-by=/k] http://m/debian bookworm main\n")
	f.Add("deb [ http://x")
	f.Fuzz(func(t *testing.T, s string) {
		for _, src := range append(ParseSourcesList(s), ParseDeb822Sources(s)...) {
			if src.URI == "" || strings.ContainsAny(src.URI, " \t\n") {
				t.Fatalf("source with URI %q", src.URI)
			}
		}
	})
}

func TestRootfsInputsAreChecked(t *testing.T) {
	good := RootfsInputs{Suite: "bookworm", Mirror: "http://deb.debian.org/debian", Packages: []string{"libstdc++6", "e2fsprogs"}}
	if err := checkRootfsInputs(good); err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct {
		in   RootfsInputs
		want string
	}{
		"suite with a path": {RootfsInputs{Suite: "../x", Mirror: good.Mirror}, "suite"},
		"package list":      {RootfsInputs{Suite: "bookworm", Mirror: good.Mirror, Packages: []string{"a,b"}}, "package"},
		"option":            {RootfsInputs{Suite: "bookworm", Mirror: good.Mirror, Packages: []string{"--foo"}}, "package"},
		"mirror":            {RootfsInputs{Suite: "bookworm", Mirror: "deb.debian.org"}, "MIRROR="},
	} {
		if err := checkRootfsInputs(tc.in); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want one about %s", name, err, tc.want)
		}
	}
}

func TestBuildWithRootfsAndK3s(t *testing.T) {
	if _, err := exec.LookPath("mksquashfs"); err != nil {
		t.Skip("mksquashfs is not installed (apt-get install squashfs-tools)")
	}
	if _, err := exec.LookPath("unsquashfs"); err != nil {
		t.Skip("unsquashfs is not installed (apt-get install squashfs-tools)")
	}
	bin := filepath.Join(t.TempDir(), "k3s")
	if err := os.WriteFile(bin, []byte("#!/bin/sh\necho k3s\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	sum, err := sha256File(bin)
	if err != nil {
		t.Fatal(err)
	}
	cache := t.TempDir()
	ro := &RootfsOptions{Mirror: "http://mirror.example/debian", Packages: []string{"kmod"}, CacheDir: cache,
		K3s: K3sSource{Binary: bin, SHA256: sum}, ModuleDirs: []string{}}
	seedTree(t, cache, RootfsInputs{Suite: DefaultSuite, Variant: "minbase", Mirror: ro.Mirror, Packages: ro.Packages})
	out := t.TempDir()
	o := testOptions(t, fakeKernel(t), out)
	o.Rootfs = ro
	m, err := BuildInitramfs(o)
	if err != nil {
		t.Fatal(err)
	}
	if m.K3s == nil || !m.K3s.Included || m.K3s.SHA256 != sum || m.K3s.Reason != "" || m.Inputs.Rootfs.K3sSHA256 != sum {
		t.Errorf("k3s = %+v, inputs k3sSHA256 %q; want included with sha256 %s", m.K3s, m.Inputs.Rootfs.K3sSHA256, sum)
	}
	list, err := exec.Command("unsquashfs", "-lln", filepath.Join(out, RootfsFile)).Output()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(list), "-rwxr-xr-x 0/0") || !strings.Contains(string(list), "squashfs-root/"+K3sInRootfs) {
		t.Errorf("k3s is not an executable /%s in the squashfs:\n%s", K3sInRootfs, list)
	}
}

func TestAirgapPathsAgree(t *testing.T) {
	if "/"+AirgapImagesInRootfs != k3s.DefaultImagesDir {
		t.Errorf("the image puts air-gap images in /%s, the agent reads %s", AirgapImagesInRootfs, k3s.DefaultImagesDir)
	}
	if !k3s.IsAirgapImage(path.Base(AirgapImagesInRootfs + "/k3s-airgap-images-amd64.tar.zst")) {
		t.Error("the agent does not take the name the image gives the tarball")
	}
}

func TestResolveAirgapImagesRefuses(t *testing.T) {
	dir := t.TempDir()
	for name, tc := range map[string]struct{ path, want string }{
		"wrong kind": {filepath.Join(dir, "images.zip"), ".tar.zst"},
		"missing":    {filepath.Join(dir, "absent.tar.zst"), "no such file"},
		"directory":  {dir + "/d.tar", "not a regular file"},
	} {
		if name == "directory" {
			if err := os.Mkdir(tc.path, 0o755); err != nil {
				t.Fatal(err)
			}
		}
		if _, _, err := ResolveAirgapImages(tc.path); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want one with %q", name, err, tc.want)
		}
	}
}

// TestBuildWithAirgapImages: the tarball given is in the squashfs where the
// agent looks, its digest and size are in the manifest, the same file
// rebuilds nothing, a changed one rebuilds, and without one the manifest
// says so.
func TestBuildWithAirgapImages(t *testing.T) {
	if _, err := exec.LookPath("mksquashfs"); err != nil {
		t.Skip("mksquashfs is not installed (apt-get install squashfs-tools)")
	}
	if _, err := exec.LookPath("unsquashfs"); err != nil {
		t.Skip("unsquashfs is not installed (apt-get install squashfs-tools)")
	}
	tarball := filepath.Join(t.TempDir(), "images-v1.31.6.tar.zst")
	if err := os.WriteFile(tarball, []byte("not really zstd"), 0o600); err != nil {
		t.Fatal(err)
	}
	cache := t.TempDir()
	ro := &RootfsOptions{Mirror: "http://mirror.example/debian", Packages: []string{"kmod"}, CacheDir: cache,
		K3s: K3sSource{Offline: true}, ModuleDirs: []string{}}
	seedTree(t, cache, RootfsInputs{Suite: DefaultSuite, Variant: "minbase", Mirror: ro.Mirror, Packages: ro.Packages})
	out := t.TempDir()
	o := testOptions(t, fakeKernel(t), out)
	o.Rootfs = ro

	// Without: no error, the manifest says so.
	m, err := BuildInitramfs(o)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(&AirgapImages{Reason: "no K3S_AIRGAP_IMAGES given"}, m.K3s.AirgapImages); diff != "" {
		t.Errorf("without a tarball, airgapImages (-want +got):\n%s", diff)
	}
	if m.Inputs.Rootfs.AirgapImagesSHA256 != "" {
		t.Errorf("inputs record a tarball: %+v", m.Inputs.Rootfs)
	}

	ro.AirgapImages = tarball
	squash := filepath.Join(out, RootfsFile)
	build := func(content string) (Manifest, time.Time) {
		t.Helper()
		if content != "" {
			if err := os.WriteFile(tarball, []byte(content), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		time.Sleep(10 * time.Millisecond)
		m, err := BuildInitramfs(o)
		if err != nil {
			t.Fatal(err)
		}
		st, err := os.Stat(squash)
		if err != nil {
			t.Fatal(err)
		}
		return m, st.ModTime()
	}
	check := func(m Manifest, content string) {
		t.Helper()
		h := sha256.Sum256([]byte(content))
		want := &AirgapImages{Included: true, Path: "/" + AirgapImagesInRootfs + "/k3s-airgap-images-amd64.tar.zst",
			SHA256: hex.EncodeToString(h[:]), Size: int64(len(content))}
		if diff := cmp.Diff(want, m.K3s.AirgapImages); diff != "" {
			t.Errorf("airgapImages (-want +got):\n%s", diff)
		}
		if m.Inputs.Rootfs.AirgapImagesSHA256 != want.SHA256 || m.Inputs.Rootfs.AirgapImages != want.Path {
			t.Errorf("inputs %+v, want the tarball's path and digest", m.Inputs.Rootfs)
		}
		dir := t.TempDir()
		if b, err := exec.Command("unsquashfs", "-d", filepath.Join(dir, "r"), squash, want.Path).CombinedOutput(); err != nil {
			t.Fatalf("unsquashfs: %v: %s", err, b)
		}
		got, err := os.ReadFile(filepath.Join(dir, "r", want.Path))
		if err != nil || string(got) != content {
			t.Errorf("the tarball in the squashfs is %q (%v), want %q", got, err, content)
		}
		if st, err := os.Stat(filepath.Join(dir, "r", want.Path)); err == nil && st.Mode().Perm() != 0o644 {
			t.Errorf("tarball mode %v, want 0644", st.Mode().Perm())
		}
	}

	m1, t1 := build("")
	check(m1, "not really zstd")
	m2, t2 := build("")
	if !t1.Equal(t2) {
		t.Error("rootfs.squashfs rebuilt with the same tarball")
	}
	check(m2, "not really zstd")
	m3, t3 := build("other images")
	if t3.Equal(t2) {
		t.Error("rootfs.squashfs not rebuilt for a changed tarball")
	}
	check(m3, "other images")
}
