package main

import (
	"bytes"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"corral.io/corral/image"
)

func TestImageBuildWritesTheImageAndSaysWhat(t *testing.T) {
	if runtime.GOOS != "linux" || runtime.GOARCH != "amd64" {
		t.Skip("/bin/ls stands in for the agent: needs Debian amd64's library layout")
	}
	kernel := t.TempDir()
	for name, content := range map[string]string{
		"boot/vmlinuz-6.1.0-99-amd64":                             "kernel",
		"lib/modules/6.1.0-99-amd64/modules.dep":                  "kernel/drivers/block/loop.ko:\n",
		"lib/modules/6.1.0-99-amd64/kernel/drivers/block/loop.ko": "module",
	} {
		p := filepath.Join(kernel, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	outDir := t.TempDir()
	var logs, out bytes.Buffer
	deps := defaultImageDeps()
	deps.log = &logs
	deps.epoch = func() (int64, error) { return 0, nil }
	cmd := newImageBuildCmd(deps)
	cmd.SetOut(&out)
	cmd.SetArgs([]string{"--kernel-dir", kernel, "--agent", "/bin/ls", "--out", outDir, "--version", "0.1.0", "--modules", "loop", "--pci-ids", filepath.Join(kernel, "none")})
	if err := cmd.Execute(); err != nil {
		t.Fatalf("%v\n%s", err, logs.String())
	}
	t.Log(logs.String())
	for _, want := range []string{"image 0.1.0, kernel 6.1.0-99-amd64, 1 modules", "initrd.img", "vmlinuz"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output does not contain %q:\n%s", want, out.String())
		}
	}
	if !strings.Contains(logs.String(), "pci.ids not found") {
		t.Errorf("no warning about the missing pci.ids in the log:\n%s", logs.String())
	}
	if _, err := image.ReadManifest(filepath.Join(outDir, image.ManifestFile)); err != nil {
		t.Error(err)
	}
}

func TestImageBuildNamesEveryMissingFlag(t *testing.T) {
	root := newRoot()
	root.SetOut(&bytes.Buffer{})
	root.SetArgs([]string{"image", "build", "--version", ""})
	err := root.Execute()
	if err == nil {
		t.Fatal("image build without flags succeeded")
	}
	for _, flag := range []string{"--kernel-dir", "--agent", "--out", "--version"} {
		if !strings.Contains(err.Error(), flag) {
			t.Errorf("error does not name %s: %v", flag, err)
		}
	}
}

func TestImageBuildRootfsTakesMirrorAndK3sFromTheEnvironment(t *testing.T) {
	var got image.Options
	deps := imageDeps{
		build: func(o image.Options) (image.Manifest, error) {
			got = o
			return image.Manifest{Version: "v1", Kernel: image.Kernel{Version: "6.1"},
				K3s: &image.K3s{Version: image.K3sVersion, Reason: "no K3S_BINARY given and the download from x failed",
					AirgapImages: &image.AirgapImages{Included: true, Size: 1234}}}, nil
		},
		log:   &bytes.Buffer{},
		epoch: func() (int64, error) { return 7, nil },
		env: func(k string) string {
			return map[string]string{"MIRROR": "http://mirror.example/debian", "K3S_BINARY": "/opt/k3s", "K3S_AIRGAP_IMAGES": "/opt/images.tar.zst"}[k]
		},
	}
	var out bytes.Buffer
	cmd := newImageBuildCmd(deps)
	cmd.SetOut(&out)
	cmd.SetArgs([]string{"--kernel-dir", "k", "--agent", "a", "--out", "o", "--rootfs", "--cache-dir", "/c", "--packages", "kmod,gdisk"})
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	r := got.Rootfs
	if r == nil {
		t.Fatal("--rootfs did not ask for a root filesystem")
	}
	if r.Mirror != "http://mirror.example/debian" || r.K3s.Binary != "/opt/k3s" || r.AirgapImages != "/opt/images.tar.zst" || r.CacheDir != "/c" ||
		r.Suite != image.DefaultSuite || strings.Join(r.Packages, ",") != "kmod,gdisk" || got.SourceDateEpoch != 7 {
		t.Errorf("root filesystem options %+v, epoch %d", *r, got.SourceDateEpoch)
	}
	if !strings.Contains(out.String(), "WITHOUT k3s (no K3S_BINARY given") || !strings.Contains(out.String(), "air-gap images 1234 bytes") {
		t.Errorf("output does not say the image is without k3s:\n%s", out.String())
	}

	// Flags win over the environment; without --rootfs there is none.
	cmd = newImageBuildCmd(deps)
	cmd.SetOut(&out)
	cmd.SetArgs([]string{"--kernel-dir", "k", "--agent", "a", "--out", "o"})
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	if got.Rootfs != nil {
		t.Errorf("a root filesystem without --rootfs: %+v", *got.Rootfs)
	}
	cmd = newImageBuildCmd(deps)
	cmd.SetOut(&out)
	cmd.SetArgs([]string{"--kernel-dir", "k", "--agent", "a", "--out", "o", "--rootfs", "--mirror", "http://flag/debian", "--k3s-binary", "/flag/k3s", "--k3s-airgap-images", "/flag/images.tar"})
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	if got.Rootfs.Mirror != "http://flag/debian" || got.Rootfs.K3s.Binary != "/flag/k3s" || got.Rootfs.AirgapImages != "/flag/images.tar" {
		t.Errorf("flags did not win: %+v", *got.Rootfs)
	}
}
