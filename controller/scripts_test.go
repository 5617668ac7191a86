package controller

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"corral.io/corral/api/v1alpha1"
	"corral.io/corral/controller/boot/httpboot"
	"corral.io/corral/controller/boot/ipxe"
	"corral.io/corral/controller/images"
	"corral.io/corral/controller/registry"
)

func TestScriptsComeFromTheNodesProfile(t *testing.T) {
	dir := t.TempDir()
	profile := `apiVersion: corral.io/v1alpha1
kind: Profile
name: pinned
priority: 50
match: 'inventory.system.serial == "PIN-1"'
kernelArgs: ["mitigations=off"]
imageVersion: v2
`
	if err := os.WriteFile(filepath.Join(dir, "pinned.yaml"), []byte(profile), 0o644); err != nil {
		t.Fatal(err)
	}
	set, err := loadProfiles(dir)
	if err != nil {
		t.Fatal(err)
	}
	reg, err := registry.Open(filepath.Join(t.TempDir(), "r.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	base := ipxe.Script{Kernel: "/images/current/vmlinuz", Initrd: "/images/current/initrd.img", Cmdline: "console=ttyS0", ControllerURL: "http://10.0.0.1:8080"}
	s := nodeScripts{base: base, reg: reg, profiles: &profileSet{set: set, reg: reg}}

	register := func(id, mac, serial string) {
		inv := &v1alpha1.Inventory{Identity: v1alpha1.Identity{NodeID: id}, System: v1alpha1.System{Serial: serial},
			NICs: []v1alpha1.NIC{{Name: "eth0", MAC: mac}}}
		if _, _, err := reg.Register(inv); err != nil {
			t.Fatal(err)
		}
	}
	register("pinned-node", "52:54:00:00:00:01", "PIN-1")
	register("plain-node", "52:54:00:00:00:02", "OTHER")
	register("gone-node", "52:54:00:00:00:03", "OTHER")
	if _, err := reg.Transition("gone-node", registry.Decommissioned, "test"); err != nil {
		t.Fatal(err)
	}

	mac := func(s string) net.HardwareAddr { m, _ := net.ParseMAC(s); return m }
	t.Run("an unknown machine boots the default image to register", func(t *testing.T) {
		got, err := s.Script(context.Background(), mac("52:54:00:ff:ff:ff"))
		if err != nil || got != base {
			t.Errorf("got %+v, %v; want the default script", got, err)
		}
	})
	t.Run("a node's profile adds kernel arguments and pins the image", func(t *testing.T) {
		got, err := s.Script(context.Background(), mac("52:54:00:00:00:01"))
		if err != nil {
			t.Fatal(err)
		}
		if got.Kernel != "/images/v2/vmlinuz" || got.Initrd != "/images/v2/initrd.img" || !strings.HasSuffix(got.Cmdline, " mitigations=off") {
			t.Errorf("script %+v", got)
		}
	})
	t.Run("a node whose profile sets nothing gets the default", func(t *testing.T) {
		if got, err := s.Script(context.Background(), mac("52:54:00:00:00:02")); err != nil || got != base {
			t.Errorf("got %+v, %v", got, err)
		}
	})
	t.Run("explain says which profile matched and why the others did not", func(t *testing.T) {
		n, _ := reg.Get("pinned-node")
		ex, err := s.profiles.Explain(n)
		if err != nil || ex.Profile != "pinned" || ex.By != "rule" {
			t.Fatalf("explain: %+v %v", ex, err)
		}
		results := map[string]string{}
		for _, p := range ex.Profiles {
			results[p.Profile] = p.Result
		}
		if results["pinned"] != "chosen" || results["gpu-worker"] != "no-match" || results["compute"] != "matched" {
			t.Errorf("results %v", results)
		}
	})
	t.Run("a decommissioned node gets no script", func(t *testing.T) {
		if _, err := s.Script(context.Background(), mac("52:54:00:00:00:03")); !errors.Is(err, httpboot.ErrUnknownNode) {
			t.Errorf("err = %v, want ErrUnknownNode (404)", err)
		}
	})
}

// importImage builds an image directory with the given artifacts and
// imports it into store.
func importImage(t *testing.T, store *images.Store, version string, artifacts ...string) v1alpha1.ImageManifest {
	t.Helper()
	src := t.TempDir()
	m := v1alpha1.ImageManifest{APIVersion: v1alpha1.Version, Kind: v1alpha1.KindImageManifest, Version: version}
	for _, name := range artifacts {
		content := []byte(name + " of " + version)
		if err := os.WriteFile(filepath.Join(src, name), content, 0o644); err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(content)
		m.Artifacts = append(m.Artifacts, v1alpha1.ImageArtifact{Name: name, SHA256: hex.EncodeToString(sum[:]), Size: int64(len(content))})
	}
	data, _ := json.Marshal(m)
	if err := os.WriteFile(filepath.Join(src, v1alpha1.ImageManifestFile), data, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := store.Import(src); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestScriptsBootTheActiveImage(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "pinned.yaml"), []byte(`apiVersion: corral.io/v1alpha1
kind: Profile
name: pinned
priority: 50
match: 'inventory.system.serial == "PIN-1"'
kernelArgs: ["mitigations=off"]
imageVersion: withrootfs
`), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "handmade.yaml"), []byte(`apiVersion: corral.io/v1alpha1
kind: Profile
name: handmade
priority: 50
match: 'inventory.system.serial == "HAND-1"'
imageVersion: test
`), 0o644); err != nil {
		t.Fatal(err)
	}
	set, err := loadProfiles(dir)
	if err != nil {
		t.Fatal(err)
	}
	reg, err := registry.Open(filepath.Join(t.TempDir(), "r.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	for _, n := range []struct{ id, mac, serial string }{
		{"pinned-node", "52:54:00:00:00:01", "PIN-1"},
		{"plain-node", "52:54:00:00:00:02", "OTHER"},
		{"gone-node", "52:54:00:00:00:03", "OTHER"},
		{"hand-node", "52:54:00:00:00:04", "HAND-1"},
	} {
		inv := &v1alpha1.Inventory{Identity: v1alpha1.Identity{NodeID: n.id}, System: v1alpha1.System{Serial: n.serial},
			NICs: []v1alpha1.NIC{{Name: "eth0", MAC: n.mac}}}
		if _, _, err := reg.Register(inv); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := reg.Transition("gone-node", registry.Decommissioned, "test"); err != nil {
		t.Fatal(err)
	}

	imagesDir := t.TempDir()
	store := images.Open(imagesDir)
	with := importImage(t, store, "withrootfs", "initrd.img", "rootfs.squashfs", "vmlinuz")
	importImage(t, store, "plain", "initrd.img", "vmlinuz")
	rootfs, _ := with.Artifact("rootfs.squashfs")

	base := ipxe.Script{Cmdline: "console=ttyS0", ControllerURL: "http://10.0.0.1:8080"}
	s := nodeScripts{base: base, reg: reg, profiles: &profileSet{set: set, reg: reg}, images: images.NewCache(images.Open(imagesDir))}
	explicitBase := base
	explicitBase.Kernel, explicitBase.Initrd = "/images/test/vmlinuz", "/images/test/initrd.img"
	explicit := s
	explicit.base, explicit.explicit = explicitBase, true

	mac := func(s string) net.HardwareAddr { m, _ := net.ParseMAC(s); return m }
	const (
		unknown = "52:54:00:ff:ff:ff"
		pinned  = "52:54:00:00:00:01"
		plain   = "52:54:00:00:00:02"
		gone    = "52:54:00:00:00:03"
		hand    = "52:54:00:00:00:04"
	)
	withRootfsArgs := "console=ttyS0 corral.rootfs=http://10.0.0.1:8080/images/withrootfs/rootfs.squashfs corral.rootfs.sha256=" + rootfs.SHA256
	script := func(kernelDir, cmdline string) ipxe.Script {
		sc := base
		sc.Kernel, sc.Initrd, sc.Cmdline = "/images/"+kernelDir+"/vmlinuz", "/images/"+kernelDir+"/initrd.img", cmdline
		return sc
	}
	check := func(t *testing.T, s nodeScripts, m string, want ipxe.Script) {
		t.Helper()
		got, err := s.Script(context.Background(), mac(m))
		if err != nil {
			t.Fatalf("%s: %v", m, err)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%s: script (-want +got):\n%s", m, diff)
		}
		if err := got.Validate(); err != nil {
			t.Errorf("%s: %v", m, err)
		}
	}

	t.Run("nothing active and no boot.kernel: an error that says what to do", func(t *testing.T) {
		_, err := s.Script(context.Background(), mac(unknown))
		if err == nil || !strings.Contains(err.Error(), "corral image import DIR && corral image activate VERSION") {
			t.Errorf("err = %v", err)
		}
		if _, err := s.Script(context.Background(), mac(gone)); !errors.Is(err, httpboot.ErrUnknownNode) {
			t.Errorf("decommissioned node: %v, want ErrUnknownNode", err)
		}
	})
	// Activations go through another Store, as the CLI would.
	cli := images.Open(imagesDir)
	t.Run("the active image, without a root filesystem", func(t *testing.T) {
		if _, err := cli.Activate("plain"); err != nil {
			t.Fatal(err)
		}
		check(t, s, unknown, script("plain", "console=ttyS0"))
		check(t, s, plain, script("plain", "console=ttyS0"))
	})
	t.Run("activate takes effect at the next script, with the root filesystem's arguments", func(t *testing.T) {
		if _, err := cli.Activate("withrootfs"); err != nil {
			t.Fatal(err)
		}
		check(t, s, unknown, script("withrootfs", withRootfsArgs))
		check(t, s, plain, script("withrootfs", withRootfsArgs))
	})
	t.Run("rollback takes effect at the next script", func(t *testing.T) {
		if _, err := cli.Rollback(); err != nil {
			t.Fatal(err)
		}
		check(t, s, unknown, script("plain", "console=ttyS0"))
	})
	t.Run("a profile's pinned version wins over the active one", func(t *testing.T) {
		check(t, s, pinned, script("withrootfs",
			"console=ttyS0 mitigations=off corral.rootfs=http://10.0.0.1:8080/images/withrootfs/rootfs.squashfs corral.rootfs.sha256="+rootfs.SHA256))
		check(t, s, hand, script("test", "console=ttyS0"))
	})
	t.Run("boot.kernel and boot.initrd in the configuration win over the active image", func(t *testing.T) {
		check(t, explicit, unknown, explicitBase)
		check(t, explicit, plain, explicitBase)
		check(t, explicit, pinned, script("withrootfs",
			"console=ttyS0 mitigations=off corral.rootfs=http://10.0.0.1:8080/images/withrootfs/rootfs.squashfs corral.rootfs.sha256="+rootfs.SHA256))
	})
	t.Run("an active image removed by hand is an error naming it", func(t *testing.T) {
		if err := os.RemoveAll(filepath.Join(imagesDir, "plain")); err != nil {
			t.Fatal(err)
		}
		_, err := s.Script(context.Background(), mac(unknown))
		if err == nil || !strings.Contains(err.Error(), "active image plain") {
			t.Errorf("err = %v", err)
		}
	})
}
