package inventory

import (
	"os"
	"path/filepath"
	"testing"

	api "corral.io/corral/api/v1alpha1"
)

func TestNormalizeUUID(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"valid upper case is lower-cased", "8C3B1A2E-5F4D-4E7A-9B21-0D6C2F9E7A11", "8c3b1a2e-5f4d-4e7a-9b21-0d6c2f9e7a11"},
		{"valid without dashes", "8c3b1a2e5f4d4e7a9b210d6c2f9e7a11", "8c3b1a2e-5f4d-4e7a-9b21-0d6c2f9e7a11"},
		{"all zero is rejected", "00000000-0000-0000-0000-000000000000", ""},
		{"all F is rejected", "FFFFFFFF-FFFF-FFFF-FFFF-FFFFFFFFFFFF", ""},
		{"one repeated byte is rejected", "11111111-1111-1111-1111-111111111111", ""},
		{"AMI default is rejected", "03000200-0400-0500-0006-000700080009", ""},
		{"AMI default byte-swapped is rejected", "00020003-0004-0005-0006-000700080009", ""},
		{"too short", "8c3b1a2e-5f4d-4e7a-9b21", ""},
		{"not hex", "zc3b1a2e-5f4d-4e7a-9b21-0d6c2f9e7a11", ""},
		{"placeholder text", "Not Settable", ""},
		{"empty", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := NormalizeUUID(tt.in); got != tt.want {
				t.Errorf("NormalizeUUID(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestDeriveIdentity(t *testing.T) {
	nics := []api.NIC{
		{Name: "eth1", PermanentMAC: "52:54:00:aa:00:02"},
		{Name: "eth0", PermanentMAC: "52:54:00:aa:00:01"},
		{Name: "ib0", PermanentMAC: "00:00:10:49:fe:80:00:00:00:00:00:00:b8:ce:f6:03:00:5a:10:40"},
		{Name: "vf0"}, // a virtual function with a random MAC has no permanent one
	}
	tests := []struct {
		name       string
		sys        api.System
		nics       []api.NIC
		wantSource string
		wantValue  string
	}{
		{"valid UUID wins", api.System{UUID: "8C3B1A2E-5F4D-4E7A-9B21-0D6C2F9E7A11", BoardSerial: "B1"}, nics, IDSourceDMIUUID, "8c3b1a2e-5f4d-4e7a-9b21-0d6c2f9e7a11"},
		{"all-zero UUID falls back to the board serial", api.System{UUID: "00000000-0000-0000-0000-000000000000", BoardSerial: "BRD123456"}, nics, IDSourceBoardSerial, "BRD123456"},
		{"all-F UUID and OEM board serial fall back to the chassis serial", api.System{UUID: "ffffffff-ffff-ffff-ffff-ffffffffffff", BoardSerial: "To Be Filled By O.E.M.", ChassisSerial: "CH-42-XYZ"}, nics, IDSourceChassisSerial, "CH-42-XYZ"},
		{"repeated-character serials are rejected", api.System{BoardSerial: "0000000000", ChassisSerial: "XXXXXXXX"}, nics, IDSourceMAC, "52:54:00:aa:00:01"},
		{"lowest permanent Ethernet MAC, not the first NIC", api.System{}, nics, IDSourceMAC, "52:54:00:aa:00:01"},
		{"nothing usable gives no id", api.System{}, []api.NIC{{Name: "vf0"}}, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id := DeriveIdentity(tt.sys, tt.nics)
			if id.Source != tt.wantSource || id.Value != tt.wantValue {
				t.Errorf("identity = %+v, want %s %q", id, tt.wantSource, tt.wantValue)
			}
			if (id.NodeID == "") != (tt.wantSource == "") || (id.NodeID != "" && len(id.NodeID) != 25) {
				t.Errorf("node id %q malformed", id.NodeID)
			}
		})
	}
}

// TestIdentityStable: the same machine keeps its id when its NICs are
// renamed, a disk is added, or PCI devices are enumerated in another order.
// The QEMU fixture's id comes from the NIC's MAC, the most fragile source.
func TestIdentityStable(t *testing.T) {
	id := func(t *testing.T, change func(tr tree)) api.Identity {
		dir := t.TempDir()
		buildQEMU(t, dir)
		change(tree{t, dir})
		return Collect(Options{Root: PrefixRoot(dir)}).Identity
	}
	base := id(t, func(tree) {})
	if base.NodeID == "" {
		t.Fatal("fixture has no identity")
	}
	tests := []struct {
		name   string
		change func(tr tree)
	}{
		{"NIC renamed", func(tr tree) {
			old := filepath.Join(tr.dir, "sys/class/net/eth0")
			if err := os.Rename(old, filepath.Join(tr.dir, "sys/class/net/enp0s2")); err != nil {
				tr.t.Fatal(err)
			}
		}},
		{"second NIC with a higher MAC added", func(tr tree) {
			d := "sys/devices/pci0000:00/0000:00:04.0/virtio3/net/eth1"
			tr.attrs(d, map[string]string{"address": "52:54:00:12:34:57", "addr_assign_type": "0"})
			tr.link(d+"/device", "../../../virtio3")
			tr.link("sys/class/net/eth1", relTo("sys/class/net/eth1", d))
		}},
		{"extra disk", func(tr tree) {
			d := "sys/devices/pci0000:00/0000:00:05.0/virtio4/block/vdb"
			tr.attrs(d, map[string]string{"size": "2097152", "dev": "254:16"})
			tr.link("sys/block/vdb", relTo("sys/block/vdb", d))
		}},
		{"PCI devices reordered", func(tr tree) {
			// Same devices, other bus addresses: as after a firmware update re-enumerates.
			p := filepath.Join(tr.dir, "sys/bus/pci/devices")
			for _, pair := range [][2]string{{"0000:00:01.0", "tmp"}, {"0000:00:03.0", "0000:00:01.0"}, {"tmp", "0000:00:03.0"}} {
				if err := os.Rename(filepath.Join(p, pair[0]), filepath.Join(p, pair[1])); err != nil {
					tr.t.Fatal(err)
				}
			}
		}},
		{"reboot: other BOOTIF, addresses and mounts", func(tr tree) {
			tr.file("proc/cmdline", "console=ttyS0\n")
			tr.file("proc/self/mountinfo", "1 0 0:1 / / rw - tmpfs tmpfs rw\n")
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := id(t, tt.change); got != base {
				t.Errorf("identity changed: %+v, was %+v", got, base)
			}
		})
	}
}
