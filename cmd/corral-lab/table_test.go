package main

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	api "corral.io/corral/api/v1alpha1"
	qemutests "corral.io/corral/qemu-tests"
)

func TestTableShowsWhatTheControllerKnows(t *testing.T) {
	dir := t.TempDir()
	serial := filepath.Join(dir, "a.serial.log")
	if err := os.WriteFile(serial, []byte("iPXE starting\r\n\x1b[0mtime=… msg=heartbeating\r\n\r\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	macA, _ := net.ParseMAC("52:54:00:00:00:0a")
	macB, _ := net.ParseMAC("52:54:00:00:00:0b")
	vms := []*qemutests.VM{
		{Name: "a", Firmware: qemutests.BIOS, MAC: macA, Serial: serial},
		{Name: "b", Firmware: qemutests.UEFI, MAC: macB, Serial: filepath.Join(dir, "none")},
	}
	nodes := []api.Node{{ID: "n1", Hostname: "worker-1", State: "ready", Profile: "compute", MACs: []string{"52:54:00:00:00:0A"}}}

	table, key := render(vms, nodes, nil)
	lines := strings.Split(strings.TrimSpace(table), "\n")
	if len(lines) != 3 {
		t.Fatalf("want a header and two rows, got:\n%s", table)
	}
	for _, want := range []string{"ready", "compute", "worker-1", "[0mtime=… msg=heartbeating"} {
		if !strings.Contains(lines[1], want) {
			t.Errorf("row of a known node lacks %q: %s", want, lines[1])
		}
	}
	if !strings.Contains(lines[2], "booting") {
		t.Errorf("row of a VM the controller has not seen should say booting: %s", lines[2])
	}

	nodes[0].State = "lost"
	if _, key2 := render(vms, nodes, nil); key2 == key {
		t.Errorf("a state change must change the key (the table is printed again)")
	}
	if _, key3 := render(vms, nil, errors.New("connection refused")); !strings.Contains(key3, "no answer") {
		t.Errorf("an unreachable controller must show in the key: %q", key3)
	}
}
