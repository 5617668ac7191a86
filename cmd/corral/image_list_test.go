package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"corral.io/corral/api/v1alpha1"
	"corral.io/corral/controller/images"
	"corral.io/corral/image"
	"corral.io/corral/internal/golden"
)

// builtImage writes what corral image build leaves in its output
// directory: the artifacts and a manifest listing them, all with the
// modification time built.
func builtImage(t *testing.T, version string, k3s *v1alpha1.ImageK3s, artifacts ...string) string {
	t.Helper()
	dir := t.TempDir()
	m := v1alpha1.ImageManifest{APIVersion: v1alpha1.Version, Kind: v1alpha1.KindImageManifest, Version: version,
		Kernel: v1alpha1.ImageKernel{Version: "6.1.0-56-amd64"}, K3s: k3s}
	built := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	for _, name := range artifacts {
		content := bytes.Repeat([]byte(name+" of "+version+"\n"), 1000)
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, content, 0o644); err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(content)
		m.Artifacts = append(m.Artifacts, v1alpha1.ImageArtifact{Name: name, SHA256: hex.EncodeToString(sum[:]), Size: int64(len(content))})
	}
	data, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, v1alpha1.ImageManifestFile)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(p, built, built); err != nil {
		t.Fatal(err)
	}
	return dir
}

// runCorral runs the corral command in this process with the image verbs'
// default configuration at defaultConfig.
func runCorral(t *testing.T, defaultConfig string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	root := newRoot()
	for _, c := range root.Commands() {
		if c.Name() != "image" {
			continue
		}
		deps := imageStoreDeps{defaultConfig: defaultConfig, now: time.Now}
		for _, sub := range c.Commands() {
			if sub.Name() != "build" {
				c.RemoveCommand(sub)
			}
		}
		c.AddCommand(newImageListCmd(deps), newImageImportCmd(deps), newImageActivateCmd(deps), newImageRollbackCmd(deps))
	}
	var out, errOut bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errOut)
	root.SetArgs(args)
	err = root.ExecuteContext(context.Background())
	t.Logf("corral %s\nstdout:\n%sstderr:\n%serr: %v", strings.Join(args, " "), out.String(), errOut.String(), err)
	return out.String(), errOut.String(), err
}

func TestImageVerbs(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "images")
	noConfig := filepath.Join(t.TempDir(), "absent.yaml")
	corral := func(args ...string) (string, string, error) {
		return runCorral(t, noConfig, append(args, "--images-dir", dir)...)
	}
	mustFail := func(want string, args ...string) {
		t.Helper()
		_, _, err := corral(args...)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("corral %s: %v, want an error containing %q", strings.Join(args, " "), err, want)
		}
	}

	if _, stderr, err := corral("image", "list"); err != nil || !strings.Contains(stderr, "no images in "+dir+": build one with corral image build, then corral image import DIR") {
		t.Errorf("list of an empty store: %q, %v", stderr, err)
	}
	mustFail("no image is active", "image", "rollback")
	mustFail("no such image: 0.1.0", "image", "activate", "0.1.0")

	v1 := builtImage(t, "0.1.0", nil, "initrd.img", "vmlinuz")
	stdout, stderr, err := corral("image", "import", v1)
	if err != nil {
		t.Fatal(err)
	}
	wantProgress := "copying 0.1.0 initrd.img (19.5KiB)\ncopying 0.1.0 initrd.img: done, sha256 and size match\ncopying 0.1.0 vmlinuz (16.6KiB)\ncopying 0.1.0 vmlinuz: done, sha256 and size match\n"
	if diff := cmp.Diff(wantProgress, stderr); diff != "" {
		t.Errorf("import progress (-want +got):\n%s", diff)
	}
	if want := "imported image 0.1.0 into " + filepath.Join(dir, "0.1.0") + " (2 files, 36.1KiB); nodes boot it after: corral image activate 0.1.0\n"; stdout != want {
		t.Errorf("import said %q, want %q", stdout, want)
	}
	if stdout, _, err := corral("image", "import", v1); err != nil || !strings.Contains(stdout, "already in") {
		t.Errorf("importing again: %q, %v", stdout, err)
	}
	v2 := builtImage(t, "0.2.0", &v1alpha1.ImageK3s{Version: image.K3sVersion, Reason: "no K3S_BINARY and no network"}, "initrd.img", "rootfs.squashfs", "vmlinuz")
	v3 := builtImage(t, "0.10.0", &v1alpha1.ImageK3s{Version: image.K3sVersion, Included: true}, "initrd.img", "rootfs.squashfs", "vmlinuz")
	for _, src := range []string{v2, v3} {
		if _, _, err := corral("image", "import", src); err != nil {
			t.Fatal(err)
		}
	}
	bad := builtImage(t, "0.3.0", nil, "initrd.img", "vmlinuz")
	os.WriteFile(filepath.Join(bad, "vmlinuz"), []byte("short"), 0o644)
	mustFail("vmlinuz is 5 bytes, the manifest says 17000", "image", "import", bad)
	mustFail("name the directory corral image build wrote", "image", "import")
	mustFail("name the version to activate", "image", "activate")

	_, stderr, err = corral("image", "list")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(stderr, "no image is active: run corral image activate VERSION") {
		t.Errorf("list with nothing active said on stderr %q", stderr)
	}

	if stdout, _, err := corral("image", "activate", "0.1.0"); err != nil || stdout != "image 0.1.0 is active: machines boot it from their next boot\n" {
		t.Errorf("activate: %q, %v", stdout, err)
	}
	mustFail("0.1.0 is the first image activated here, nothing to roll back to", "image", "rollback")
	stdout, stderr, err = corral("image", "activate", "0.2.0")
	if err != nil || stdout != "image 0.2.0 is active (was 0.1.0): machines boot it from their next boot; corral image rollback goes back to 0.1.0\n" {
		t.Errorf("activate: %q, %v", stdout, err)
	}
	if !strings.Contains(stderr, "verifying 0.2.0 rootfs.squashfs: done, sha256 and size match") {
		t.Errorf("activate did not report verifying: %q", stderr)
	}

	stdout, _, err = corral("image", "list")
	if err != nil {
		t.Fatal(err)
	}
	golden.Check(t, "image_list.golden", []byte(stdout))

	stdout, _, err = corral("image", "list", "-o", "json")
	if err != nil {
		t.Fatal(err)
	}
	var doc imageListDoc
	if err := json.Unmarshal([]byte(stdout), &doc); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, i := range doc.Items {
		got = append(got, fmt.Sprintf("%s active=%v k3s=%v files=%d", i.Version, i.Active, i.K3s != nil && i.K3s.Included, len(i.Artifacts)))
	}
	if diff := cmp.Diff([]string{"0.1.0 active=false k3s=false files=2", "0.2.0 active=true k3s=false files=3", "0.10.0 active=false k3s=true files=3"}, got); diff != "" {
		t.Errorf("list -o json (-want +got):\n%s", diff)
	}
	if doc.Active != "0.2.0" || !slices.Equal(doc.History, []string{"0.1.0"}) {
		t.Errorf("list -o json: active %q, history %v", doc.Active, doc.History)
	}
	if stdout, _, err := corral("image", "list", "-o", "yaml"); err != nil || !strings.Contains(stdout, "active: 0.2.0\n") {
		t.Errorf("list -o yaml: %q, %v", stdout, err)
	}
	mustFail(`output format "wide": use -o table, json or yaml`, "image", "list", "-o", "wide")

	// A file damaged in the store is found at activation.
	os.WriteFile(filepath.Join(dir, "0.10.0", "rootfs.squashfs"), bytes.Repeat([]byte("X"), 26000), 0o644)
	mustFail("rootfs.squashfs has sha256", "image", "activate", "0.10.0")

	if stdout, _, err := corral("image", "rollback"); err != nil || stdout != "rolled back to image 0.1.0 (was 0.2.0): machines boot it from their next boot\n" {
		t.Errorf("rollback: %q, %v", stdout, err)
	}
}

// TestImageVerbsReadTheControllerConfig: without --images-dir, the verbs
// use boot.imagesDir of the controller configuration, and say when
// boot.kernel makes the active image irrelevant.
func TestImageVerbsReadTheControllerConfig(t *testing.T) {
	tmp := t.TempDir()
	cfgFile := filepath.Join(tmp, "controller.yaml")
	imagesDir := filepath.Join(tmp, "imgs")
	writeCfg := func(extra string) {
		if err := os.WriteFile(cfgFile, []byte(`apiVersion: corral.io/v1alpha1
kind: ControllerConfig
stateDir: `+filepath.Join(tmp, "state")+`
advertiseAddress: 10.0.0.1
dhcp:
  mode: "off"
boot:
  imagesDir: `+imagesDir+`
`+extra), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	writeCfg("")
	src := builtImage(t, "v1", nil, "initrd.img", "vmlinuz")
	// The default configuration file, when it exists, is read.
	if _, _, err := runCorral(t, cfgFile, "image", "import", src); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(imagesDir, "v1", "vmlinuz")); err != nil {
		t.Errorf("import did not go to boot.imagesDir: %v", err)
	}
	writeCfg("  kernel: /images/test/vmlinuz\n  initrd: /images/test/initrd.img\n")
	_, stderr, err := runCorral(t, filepath.Join(tmp, "absent.yaml"), "image", "activate", "v1", "--config", cfgFile)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(stderr, "warning: "+cfgFile+" sets boot.kernel/boot.initrd (/images/test/vmlinuz): the controller boots that, not the active image; remove both to boot the active image") {
		t.Errorf("activate with boot.kernel set did not warn: %q", stderr)
	}
	// --images-dir wins over the configuration, and its boot.kernel does
	// not concern another directory.
	other := filepath.Join(tmp, "other")
	if _, stderr, err := runCorral(t, cfgFile, "image", "import", src, "--images-dir", other); err != nil || strings.Contains(stderr, "warning") {
		t.Errorf("import --images-dir: %q, %v", stderr, err)
	}
	if _, err := os.Stat(filepath.Join(other, "v1", "vmlinuz")); err != nil {
		t.Errorf("import --images-dir: %v", err)
	}
	writeCfg("  bogus: 1\n")
	if _, _, err := runCorral(t, cfgFile, "image", "list"); err == nil || !strings.Contains(err.Error(), "name the images directory with --images-dir") {
		t.Errorf("list with a broken configuration: %v", err)
	}
}

// TestImageActivateFromConcurrentProcesses runs corral image activate as
// separate processes at once: each activation must end up either active or
// on the history, and the state must parse.
func TestImageActivateFromConcurrentProcesses(t *testing.T) {
	dir := t.TempDir()
	var versions []string
	for i := range 6 {
		v := fmt.Sprintf("v%d", i)
		versions = append(versions, v)
		if _, err := images.Open(dir).Import(builtImage(t, v, nil, "initrd.img", "vmlinuz")); err != nil {
			t.Fatal(err)
		}
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for _, v := range versions {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			cmd := exec.CommandContext(ctx, self)
			cmd.Env = append(os.Environ(), "CORRAL_TEST_MAIN_ARGS="+strings.Join([]string{"image", "activate", v, "--images-dir", dir}, "\x1f"))
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Errorf("corral image activate %s: %v\n%s", v, err, out)
			}
		})
	}
	wg.Wait()
	st, err := images.Open(dir).State()
	if err != nil {
		t.Fatal(err)
	}
	got := slices.Sorted(slices.Values(append(slices.Clone(st.History), st.Active)))
	if diff := cmp.Diff(versions, got); diff != "" {
		t.Errorf("active + history after concurrent activations (-want +got):\n%s", diff)
	}
}
