package qemutests

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"corral.io/corral/internal/testnet"
)

// keaIP is the address of the lab's other DHCP server, when there is one.
const keaIP = "10.77.0.2"

// NewProxyLab is a lab where the network's addresses come from someone
// else's DHCP server — ISC Kea on its own host (namespace) on the bridge,
// handing out 10.77.0.160-200 and knowing nothing of network boot — and the
// controller runs as proxyDHCP beside it, answering PXE clients only.
func NewProxyLab(t *testing.T, fw Firmware) *Lab {
	t.Helper()
	if _, err := exec.LookPath("kea-dhcp4"); err != nil {
		t.Skip("kea-dhcp4 is not installed (apt-get install kea-dhcp4-server): it is the existing DHCP server of this test")
	}
	l := newLab(t, fw, true)
	l.proxy = true
	l.startKea()
	l.startController()
	return l
}

// startKea runs kea-dhcp4 in its own namespace, joined to the lab's bridge.
func (l *Lab) startKea() {
	t := l.t
	t.Helper()
	kea := testnet.New(t, "kea")
	testnet.Veth(t, l.NS, "kea0", "", kea, "eth0", keaIP+"/24")
	l.NS.MustIP("link", "set", "kea0", "master", bridgeName)
	dir := filepath.Join(l.dir, "kea")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "kea-dhcp4.json")
	json := fmt.Sprintf(`{"Dhcp4": {
  "interfaces-config": {"interfaces": ["eth0"], "dhcp-socket-type": "raw"},
  "lease-database": {"type": "memfile", "persist": true, "name": "%s/leases4.csv", "lfc-interval": 0},
  "valid-lifetime": 600,
  "subnet4": [{"id": 1, "subnet": "10.77.0.0/24", "pools": [{"pool": "10.77.0.160 - 10.77.0.200"}],
               "option-data": [{"name": "routers", "data": "%s"}]}],
  "loggers": [{"name": "kea-dhcp4", "output_options": [{"output": "stdout"}], "severity": "INFO"}]
}}`, dir, controllerIP)
	if err := os.WriteFile(cfg, []byte(json), 0o644); err != nil {
		t.Fatal(err)
	}
	log := filepath.Join(dir, "kea.log")
	l.logs = append(l.logs, log)
	out, err := os.Create(log)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	cmd := kea.Command(context.Background(), "kea-dhcp4", "-c", cfg)
	cmd.Env = append(os.Environ(), "KEA_PIDFILE_DIR="+dir, "KEA_LOCKFILE_DIR="+dir)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start kea-dhcp4: %v", err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	t.Logf("kea-dhcp4 started (pid %d) in %s, log %s", cmd.Process.Pid, kea.Name, log)
}

// keaLeased reports whether Kea's lease file has a lease for mac.
func (l *Lab) keaLeased(mac string) (ip string, ok bool) {
	b, err := os.ReadFile(filepath.Join(l.dir, "kea", "leases4.csv"))
	if err != nil {
		return "", false
	}
	// CSV: address,hwaddr,client_id,valid_lifetime,expire,...
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Split(line, ","); len(f) > 1 && strings.EqualFold(f[1], mac) {
			ip, ok = f[0], true
		}
	}
	return ip, ok
}

// TestProxyDHCPBesideKea boots an OVMF VM (its own PXE client, then iPXE)
// on a network whose addresses come from Kea, with the controller as
// proxyDHCP: the VM must get its address from Kea and its boot program and
// script from Corral (PXE 2.1 proxyDHCP, including the port-4011 exchange
// iPXE makes), and Corral must hand out no address.
func TestProxyDHCPBesideKea(t *testing.T) {
	l := NewProxyLab(t, UEFI)
	vm := l.StartVM("worker", UEFI)
	took := vm.WaitFor(initMarker, 5*time.Minute)
	t.Logf("proxyDHCP beside Kea: QEMU start to %s in %.1f s", initMarker, took.Seconds())
	mac := vm.MAC.String()
	ip, ok := l.keaLeased(mac)
	if !ok {
		t.Fatalf("Kea has no lease for %s: the address must come from the existing server", mac)
	}
	if !vm.ConsoleContains("net0: " + ip + "/") {
		t.Errorf("iPXE did not configure Kea's address %s", ip)
	}
	if acks := l.FindLog("ack", "mac", mac); len(acks) > 0 {
		t.Errorf("the proxy handed out an address: %v", acks)
	}
	if recs := l.FindLog("proxy boot", "mac", mac, "file", uefiFile); len(recs) == 0 {
		t.Errorf("controller log has no proxy offer of %s to the firmware of %s", uefiFile, mac)
	}
	if recs := l.FindLog("proxy boot", "mac", mac, "file", "http://"+controllerIP+":"+httpPort+"/boot.ipxe?mac=${netX/mac}"); len(recs) == 0 {
		t.Errorf("controller log has no proxy offer of the boot script to iPXE on %s", mac)
	}
	if !containsFold(vm.KernelCmdline(), "BOOTIF="+vm.BOOTIF()) {
		t.Errorf("kernel command line %q lacks BOOTIF", vm.KernelCmdline())
	}
}
