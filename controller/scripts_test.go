package controller

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"corral.io/corral/api/v1alpha1"
	"corral.io/corral/controller/boot/httpboot"
	"corral.io/corral/controller/boot/ipxe"
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
