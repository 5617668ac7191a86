package images

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"corral.io/corral/api/v1alpha1"
)

// build writes an image directory like corral image build's output: each
// artifact with the given content, and a manifest listing them.
func build(t *testing.T, version string, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	m := v1alpha1.ImageManifest{APIVersion: v1alpha1.Version, Kind: v1alpha1.KindImageManifest, Version: version,
		Kernel: v1alpha1.ImageKernel{Version: "6.1.0-56-amd64"}}
	names := slices.Sorted(func(yield func(string) bool) {
		for n := range files {
			if !yield(n) {
				return
			}
		}
	})
	for _, n := range names {
		if err := os.WriteFile(filepath.Join(dir, n), []byte(files[n]), 0o644); err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256([]byte(files[n]))
		m.Artifacts = append(m.Artifacts, v1alpha1.ImageArtifact{Name: n, SHA256: hex.EncodeToString(sum[:]), Size: int64(len(files[n]))})
	}
	writeManifest(t, dir, m)
	return dir
}

func writeManifest(t *testing.T, dir string, m v1alpha1.ImageManifest) {
	t.Helper()
	data, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, v1alpha1.ImageManifestFile), data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func readManifest(t *testing.T, dir string) v1alpha1.ImageManifest {
	t.Helper()
	m, err := v1alpha1.ReadImageManifest(filepath.Join(dir, v1alpha1.ImageManifestFile))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func basic(v string) map[string]string {
	return map[string]string{"vmlinuz": "kernel " + v, "initrd.img": "initramfs " + v}
}

// entries lists the images directory, without the lock file.
func entries(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	var names []string
	for _, e := range es {
		if e.Name() != lockFile {
			names = append(names, e.Name())
		}
	}
	return names
}

func mustImport(t *testing.T, s *Store, src string) Image {
	t.Helper()
	res, err := s.Import(src)
	if err != nil {
		t.Fatal(err)
	}
	return res.Image
}

func TestImportActivateRollback(t *testing.T) {
	s := Open(filepath.Join(t.TempDir(), "images"))
	var progress []string
	s.Progress = func(p Progress) {
		progress = append(progress, fmt.Sprintf("%s %s %s %d/%d", p.Op, p.Version, p.Artifact, p.Done, p.Total))
	}
	if _, err := s.Active(); !errors.Is(err, ErrNoActive) || !strings.Contains(err.Error(), "corral image import DIR && corral image activate VERSION") {
		t.Errorf("Active on an empty store: %v, want ErrNoActive saying what to do", err)
	}
	if imgs, skipped, err := s.List(); len(imgs) != 0 || skipped != nil || err != nil {
		t.Errorf("List on a missing directory: %v %v %v", imgs, skipped, err)
	}

	img := mustImport(t, s, build(t, "0.1.0", basic("0.1.0")))
	if diff := cmp.Diff([]string{
		"copy 0.1.0 initrd.img 0/15", "copy 0.1.0 initrd.img 15/15",
		"copy 0.1.0 vmlinuz 0/12", "copy 0.1.0 vmlinuz 12/12",
	}, progress); diff != "" {
		t.Errorf("progress (-want +got):\n%s", diff)
	}
	if img.Version != "0.1.0" || img.Size() != 27 || img.Dir != filepath.Join(s.Dir(), "0.1.0") {
		t.Errorf("imported %+v", img)
	}
	b, err := os.ReadFile(filepath.Join(s.Dir(), "0.1.0", "vmlinuz"))
	if err != nil || string(b) != "kernel 0.1.0" {
		t.Errorf("stored vmlinuz %q, %v", b, err)
	}
	mustImport(t, s, build(t, "0.10.0", basic("0.10.0")))
	mustImport(t, s, build(t, "0.9.0", basic("0.9.0")))
	imgs, skipped, err := s.List()
	if err != nil || skipped != nil {
		t.Fatal(err, skipped)
	}
	var vs []string
	for _, i := range imgs {
		vs = append(vs, i.Version)
	}
	if diff := cmp.Diff([]string{"0.1.0", "0.9.0", "0.10.0"}, vs); diff != "" {
		t.Errorf("List order (-want +got):\n%s", diff)
	}

	if _, err := s.Rollback(); !errors.Is(err, ErrNoPrevious) {
		t.Errorf("Rollback with nothing active: %v", err)
	}
	for i, v := range []string{"0.1.0", "0.9.0", "0.9.0", "0.10.0"} {
		ch, err := s.Activate(v)
		if err != nil {
			t.Fatal(err)
		}
		if (i == 2) != ch.Unchanged {
			t.Errorf("Activate(%s) #%d: Unchanged %v", v, i, ch.Unchanged)
		}
	}
	st, err := s.State()
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(State{Active: "0.10.0", History: []string{"0.1.0", "0.9.0"}}, st, cmp.FilterPath(func(p cmp.Path) bool { return p.Last().String() == ".Changed" }, cmp.Ignore())); diff != "" {
		t.Errorf("state (-want +got):\n%s", diff)
	}
	for _, want := range []string{"0.9.0", "0.1.0"} {
		ch, err := s.Rollback()
		if err != nil {
			t.Fatal(err)
		}
		if a, _ := s.Active(); ch.Image.Version != want || a.Version != want {
			t.Errorf("rollback gave %s, active %s; want %s", ch.Image.Version, a.Version, want)
		}
	}
	_, err = s.Rollback()
	if !errors.Is(err, ErrNoPrevious) || !strings.Contains(err.Error(), "0.1.0 is the first image activated here") {
		t.Errorf("third rollback: %v, want ErrNoPrevious naming 0.1.0", err)
	}
	if diff := cmp.Diff([]string{".state.json", "0.1.0", "0.10.0", "0.9.0"}, entries(t, s.Dir())); diff != "" {
		t.Errorf("images directory (-want +got):\n%s", diff)
	}
}

func TestImportRefusesABadImageAndLeavesNothing(t *testing.T) {
	tests := []struct {
		name  string
		src   func(t *testing.T) string
		want  string
		isErr error
	}{
		{"missing artifact", func(t *testing.T) string {
			d := build(t, "v1", basic("v1"))
			os.Remove(filepath.Join(d, "vmlinuz"))
			return d
		}, "vmlinuz is listed in the manifest but missing", ErrVerify},
		{"wrong size", func(t *testing.T) string {
			d := build(t, "v1", basic("v1"))
			os.WriteFile(filepath.Join(d, "vmlinuz"), []byte("kernel v1 and more"), 0o644)
			return d
		}, "vmlinuz is 18 bytes, the manifest says 9", ErrVerify},
		{"wrong sha256", func(t *testing.T) string {
			d := build(t, "v1", basic("v1"))
			os.WriteFile(filepath.Join(d, "vmlinuz"), []byte("kernel V1"), 0o644)
			return d
		}, "vmlinuz has sha256 ", ErrVerify},
		{"version with a slash", func(t *testing.T) string { return build(t, "../etc", basic("x")) }, `version "../etc": want`, nil},
		{"hidden version", func(t *testing.T) string { return build(t, ".state", basic("x")) }, `version ".state": want`, nil},
		{"empty version", func(t *testing.T) string { return build(t, "", basic("x")) }, `version "": want`, nil},
		{"artifact outside the image", func(t *testing.T) string {
			d := build(t, "v1", basic("v1"))
			m := readManifest(t, d)
			m.Artifacts[0].Name = "../../passwd"
			writeManifest(t, d, m)
			return d
		}, `artifact name "../../passwd"`, nil},
		{"artifact named like the manifest", func(t *testing.T) string {
			d := build(t, "v1", basic("v1"))
			m := readManifest(t, d)
			m.Artifacts[0].Name = v1alpha1.ImageManifestFile
			writeManifest(t, d, m)
			return d
		}, `artifact name "manifest.json"`, nil},
		{"malformed sha256", func(t *testing.T) string {
			d := build(t, "v1", basic("v1"))
			m := readManifest(t, d)
			m.Artifacts[0].SHA256 = strings.ToUpper(m.Artifacts[0].SHA256)
			writeManifest(t, d, m)
			return d
		}, "is not 64 lower-case hex digits", nil},
		{"no artifacts", func(t *testing.T) string { return build(t, "v1", nil) }, "lists no artifacts", nil},
		{"no manifest", func(t *testing.T) string { return t.TempDir() }, "want the output directory of corral image build", nil},
		{"not an image manifest", func(t *testing.T) string {
			d := t.TempDir()
			os.WriteFile(filepath.Join(d, v1alpha1.ImageManifestFile), []byte(`{"apiVersion":"v1","kind":"Pod"}`), 0o644)
			return d
		}, `kind "Pod"`, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := Open(filepath.Join(t.TempDir(), "images"))
			_, err := s.Import(tt.src(t))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Import: %v, want an error containing %q", err, tt.want)
			}
			if tt.isErr != nil && !errors.Is(err, tt.isErr) {
				t.Errorf("Import: %v does not wrap %v", err, tt.isErr)
			}
			if left := entries(t, s.Dir()); len(left) != 0 {
				t.Errorf("a failed import left %v", left)
			}
		})
	}
}

func TestImportAgain(t *testing.T) {
	s := Open(t.TempDir())
	src := build(t, "v1", basic("v1"))
	mustImport(t, s, src)
	res, err := s.Import(src)
	if err != nil || !res.Unchanged {
		t.Errorf("importing the same image again: %+v, %v; want a no-op", res, err)
	}
	other := build(t, "v1", map[string]string{"vmlinuz": "another kernel", "initrd.img": "initramfs v1"})
	_, err = s.Import(other)
	if !errors.Is(err, ErrConflict) || !strings.Contains(err.Error(), "vmlinuz differs") || !strings.Contains(err.Error(), "another --version") {
		t.Errorf("importing other content under the same version: %v, want ErrConflict", err)
	}
	b, _ := os.ReadFile(filepath.Join(s.Dir(), "v1", "vmlinuz"))
	if string(b) != "kernel v1" {
		t.Errorf("the stored image was changed to %q", b)
	}
	// A damaged stored copy is not hidden by a no-op import.
	os.WriteFile(filepath.Join(s.Dir(), "v1", "initrd.img"), []byte("initramfs v2"), 0o644)
	if _, err := s.Import(src); !errors.Is(err, ErrVerify) || !strings.Contains(err.Error(), "damaged") {
		t.Errorf("importing over a damaged copy: %v", err)
	}
}

func TestImportCopiesOnlyListedFilesAndKeepsTheBuildTime(t *testing.T) {
	s := Open(t.TempDir())
	src := build(t, "v1", map[string]string{"vmlinuz": "k", "initrd.img": "i", "rootfs.squashfs": "r"})
	os.WriteFile(filepath.Join(src, "notes.txt"), []byte("not part of the image"), 0o644)
	fi, _ := os.Stat(filepath.Join(src, v1alpha1.ImageManifestFile))
	img := mustImport(t, s, src)
	if !img.Built.Equal(fi.ModTime()) {
		t.Errorf("Built %v, want the source manifest's mtime %v", img.Built, fi.ModTime())
	}
	if diff := cmp.Diff([]string{"initrd.img", "manifest.json", "rootfs.squashfs", "vmlinuz"}, entries(t, img.Dir)); diff != "" {
		t.Errorf("stored files (-want +got):\n%s", diff)
	}
}

func TestActivateRefusesAnImageThatFailsVerification(t *testing.T) {
	s := Open(t.TempDir())
	mustImport(t, s, build(t, "good", basic("good")))
	mustImport(t, s, build(t, "tampered", basic("tampered")))
	mustImport(t, s, build(t, "truncated", basic("truncated")))
	mustImport(t, s, build(t, "gone", basic("gone")))
	if _, err := s.Activate("good"); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(s.Dir(), "tampered", "vmlinuz"), []byte("kernel tampereD"), 0o644)
	os.WriteFile(filepath.Join(s.Dir(), "truncated", "vmlinuz"), []byte("kernel"), 0o644)
	os.Remove(filepath.Join(s.Dir(), "gone", "initrd.img"))
	for v, want := range map[string]string{
		"tampered":  "vmlinuz has sha256",
		"truncated": "vmlinuz is 6 bytes",
		"gone":      "initrd.img is missing",
		"absent":    "no such image: absent",
		"../good":   `version "../good"`,
	} {
		_, err := s.Activate(v)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Activate(%s): %v, want an error containing %q", v, err, want)
		}
	}
	if a, err := s.Active(); err != nil || a.Version != "good" {
		t.Errorf("active %q, %v after refused activations; want good", a.Version, err)
	}

	// Rollback checks its target too, and changes nothing when it fails.
	mustImport(t, s, build(t, "next", basic("next")))
	if _, err := s.Activate("next"); err != nil {
		t.Fatal(err)
	}
	os.Remove(filepath.Join(s.Dir(), "good", "vmlinuz"))
	if _, err := s.Rollback(); !errors.Is(err, ErrVerify) || !strings.Contains(err.Error(), "rollback to good") {
		t.Errorf("rollback to a damaged image: %v", err)
	}
	if st, _ := s.State(); st.Active != "next" || !slices.Equal(st.History, []string{"good"}) {
		t.Errorf("state after a refused rollback: %+v", st)
	}
}

func TestStateSurvivesACrashMidWrite(t *testing.T) {
	s := Open(t.TempDir())
	mustImport(t, s, build(t, "v1", basic("v1")))
	mustImport(t, s, build(t, "v2", basic("v2")))
	if _, err := s.Activate("v1"); err != nil {
		t.Fatal(err)
	}
	// A crash between atomicfile's create and rename leaves a temporary
	// file with part of the new state.
	if err := os.WriteFile(filepath.Join(s.Dir(), "."+StateFile+".12345"), []byte(`{"active": "v`), 0o644); err != nil {
		t.Fatal(err)
	}
	if a, err := s.Active(); err != nil || a.Version != "v1" {
		t.Errorf("Active after a crash: %q, %v; want v1", a.Version, err)
	}
	if imgs, skipped, err := s.List(); err != nil || len(imgs) != 2 || skipped != nil {
		t.Errorf("List after a crash: %d images, %v, %v", len(imgs), skipped, err)
	}
	if _, err := s.Activate("v2"); err != nil {
		t.Fatal(err)
	}
	if a, err := s.Active(); err != nil || a.Version != "v2" {
		t.Errorf("Active: %q, %v; want v2", a.Version, err)
	}

	// A state file damaged by hand is an error that says what to do.
	os.WriteFile(filepath.Join(s.Dir(), StateFile), []byte(`{"active": "v`), 0o644)
	if _, err := s.Active(); err == nil || !strings.Contains(err.Error(), "remove it and run corral image activate VERSION") {
		t.Errorf("Active with a damaged state: %v", err)
	}
}

func TestListSkipsDirectoriesThatAreNotImages(t *testing.T) {
	s := Open(t.TempDir())
	mustImport(t, s, build(t, "v1", basic("v1")))
	os.MkdirAll(filepath.Join(s.Dir(), "test"), 0o755) // a hand-made directory, as the QEMU lab has
	os.WriteFile(filepath.Join(s.Dir(), "test", "vmlinuz"), []byte("k"), 0o644)
	os.Rename(filepath.Join(s.Dir(), "v1"), filepath.Join(s.Dir(), "v2"))
	mustImport(t, s, build(t, "v1", basic("v1")))
	imgs, skipped, err := s.List()
	if err != nil || len(imgs) != 1 || len(skipped) != 2 {
		t.Fatalf("List: %v, %v, %v; want v1 and two skipped", imgs, skipped, err)
	}
	msgs := fmt.Sprint(skipped)
	for _, want := range []string{"test: no manifest.json", `manifest says version "v1": the directory was renamed by hand`} {
		if !strings.Contains(msgs, want) {
			t.Errorf("skipped %v, want a reason containing %q", msgs, want)
		}
	}
}

// TestConcurrentActivateLosesNothing activates eight versions at once, each
// through its own Store (its own lock descriptor, as separate processes
// would have): every activation must be either active or on the history.
func TestConcurrentActivateLosesNothing(t *testing.T) {
	dir := t.TempDir()
	var versions []string
	for i := range 8 {
		v := fmt.Sprintf("v%d", i)
		versions = append(versions, v)
		mustImport(t, Open(dir), build(t, v, basic(v)))
	}
	var wg sync.WaitGroup
	errs := make(chan error, len(versions))
	for _, v := range versions {
		wg.Go(func() {
			if _, err := Open(dir).Activate(v); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	st, err := Open(dir).State()
	if err != nil {
		t.Fatal(err)
	}
	got := slices.Sorted(slices.Values(append(slices.Clone(st.History), st.Active)))
	if diff := cmp.Diff(versions, got); diff != "" {
		t.Errorf("active + history (-want +got):\n%s", diff)
	}
}

func TestCacheSeesChangesWithoutRestart(t *testing.T) {
	dir := t.TempDir()
	c := NewCache(Open(dir))
	var logged bytes.Buffer
	c.Log = slog.New(slog.NewTextHandler(&logged, &slog.HandlerOptions{ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
		if a.Key == slog.TimeKey {
			return slog.Attr{}
		}
		return a
	}}))
	if v, err := c.ActiveVersion(); v != "" || err != nil {
		t.Errorf("empty store: %q, %v", v, err)
	}
	cli := Open(dir) // another process, as far as the cache knows
	mustImport(t, cli, build(t, "v1", basic("v1")))
	mustImport(t, cli, build(t, "v2", basic("v2")))
	for _, step := range []struct {
		do   func() (Change, error)
		want string
	}{
		{func() (Change, error) { return cli.Activate("v1") }, "v1"},
		{func() (Change, error) { return cli.Activate("v2") }, "v2"},
		{cli.Rollback, "v1"},
	} {
		if _, err := step.do(); err != nil {
			t.Fatal(err)
		}
		if v, err := c.ActiveVersion(); v != step.want || err != nil {
			t.Errorf("cache says %q, %v; want %s", v, err, step.want)
		}
	}
	if want := "level=INFO msg=\"active image changed: machines boot it from their next boot\" active=v2 was=v1\n"; !strings.Contains(logged.String(), want) {
		t.Errorf("log:\n%s\nwant a line %q", logged.String(), want)
	}
	img, err := c.Image("v1")
	if err != nil || img.Manifest.Version != "v1" {
		t.Fatalf("Image(v1): %+v, %v", img, err)
	}
	m := img.Manifest
	m.Kernel.Version = "6.12.0-1-amd64"
	writeManifest(t, filepath.Join(dir, "v1"), m)
	if img, err := c.Image("v1"); err != nil || img.Manifest.Kernel.Version != "6.12.0-1-amd64" {
		t.Errorf("Image after the manifest changed: %+v, %v", img.Manifest.Kernel, err)
	}
	if _, err := c.Image("v9"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Image(v9): %v, want ErrNotFound", err)
	}
	os.Remove(filepath.Join(dir, StateFile))
	if v, err := c.ActiveVersion(); v != "" || err != nil {
		t.Errorf("after the state file was removed: %q, %v", v, err)
	}
}

func TestCompareVersions(t *testing.T) {
	want := []string{"0.1.0", "0.1.0-rc1", "0.2.0", "0.10.0", "1.0", "a", "b2", "b10"}
	got := slices.Clone(want)
	slices.Reverse(got)
	slices.SortFunc(got, CompareVersions)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func FuzzParseState(f *testing.F) {
	f.Add([]byte(`{"active":"v1","history":["v0"],"changed":"2026-01-02T03:04:05Z"}`))
	f.Add([]byte(`{"active":"../x"}`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		st, err := parseState("state", data)
		if err != nil {
			return
		}
		for _, v := range append(st.History, st.Active) {
			if v != "" && CheckVersion(v) != nil {
				t.Errorf("accepted version %q", v)
			}
		}
	})
}

func TestImportRemovesWhatAKilledImportLeft(t *testing.T) {
	s := Open(t.TempDir())
	stale := filepath.Join(s.Dir(), importPrefix+"v0-123")
	running := filepath.Join(s.Dir(), importPrefix+"v9-456")
	for _, d := range []string{stale, running} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(d, "vmlinuz"), []byte("half"), 0o644)
	}
	held, err := flockDir(running, syscall.LOCK_EX) // an import still copying
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	mustImport(t, s, build(t, "v1", basic("v1")))
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Errorf("the killed import's directory is still there: %v", err)
	}
	if _, err := os.Stat(filepath.Join(running, "vmlinuz")); err != nil {
		t.Errorf("the running import's directory was touched: %v", err)
	}
}

// TestConcurrentImportsKeepEachOthersDirectories pauses one import between
// creating its temporary directory and locking it, and runs another import
// (another Store: its own lock descriptors, as another process has) in that
// window. The second one's sweep must not take the first one's directory
// for a killed import's.
func TestConcurrentImportsKeepEachOthersDirectories(t *testing.T) {
	dir := t.TempDir()
	srcA, srcB := build(t, "v1", basic("v1")), build(t, "v2", basic("v2"))
	created, bDone := make(chan struct{}), make(chan error, 1)
	importTestHook = func(version, tmp string) {
		if version != "v1" {
			return
		}
		close(created)
		// While v1's directory is unlocked, v2 either waits for the
		// store's lock (and this gives up waiting for it) or sweeps.
		select {
		case err := <-bDone:
			bDone <- err
		case <-time.After(time.Second):
		}
	}
	t.Cleanup(func() { importTestHook = nil })
	aDone := make(chan error, 1)
	go func() { _, err := Open(dir).Import(srcA); aDone <- err }()
	<-created
	go func() { _, err := Open(dir).Import(srcB); bDone <- err }()
	if err := <-aDone; err != nil {
		t.Errorf("import v1: %v", err)
	}
	if err := <-bDone; err != nil {
		t.Errorf("import v2: %v", err)
	}
	imgs, _, err := Open(dir).List()
	if err != nil || len(imgs) != 2 {
		t.Errorf("store holds %d images (%v), want 2", len(imgs), err)
	}
	if got := entries(t, dir); slices.ContainsFunc(got, func(e string) bool { return strings.HasPrefix(e, importPrefix) }) {
		t.Errorf("temporary directories left: %v", got)
	}
}

func TestProgressReportsEachFileOnceAtItsEnd(t *testing.T) {
	s := Open(t.TempDir())
	big := strings.Repeat("x", 2*progressStep) // ends exactly on a step
	var ends, mids int
	s.Progress = func(p Progress) {
		switch {
		case p.Done == p.Total:
			ends++
		case p.Done > 0:
			mids++
		}
	}
	mustImport(t, s, build(t, "v1", map[string]string{"rootfs.squashfs": big}))
	if ends != 1 || mids != 1 {
		t.Errorf("%d end reports and %d in between, want 1 and 1", ends, mids)
	}
}

// FuzzCheckManifest: whatever a manifest.json says, a manifest the store
// accepts names only plain files inside the image's directory.
func FuzzCheckManifest(f *testing.F) {
	f.Add([]byte(`{"apiVersion":"corral.io/v1alpha1","kind":"ImageManifest","version":"0.1.0","artifacts":[{"name":"vmlinuz","sha256":"` + strings.Repeat("ab", 32) + `","size":1}]}`))
	f.Add([]byte(`{"version":"../x","artifacts":[{"name":"../../etc/passwd","sha256":"","size":-1}]}`))
	f.Add([]byte(`{"version":"v","artifacts":[{"name":".state.json"},{"name":"a/b"}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var m v1alpha1.ImageManifest
		if json.Unmarshal(data, &m) != nil || checkManifest(m) != nil {
			return
		}
		for _, n := range append([]string{m.Version}, func() (ns []string) {
			for _, a := range m.Artifacts {
				ns = append(ns, a.Name)
			}
			return ns
		}()...) {
			if filepath.Base(n) != n || !filepath.IsLocal(n) || strings.HasPrefix(n, ".") || strings.ContainsAny(n, "/\\ \x00$#") {
				t.Errorf("accepted name %q", n)
			}
		}
	})
}
