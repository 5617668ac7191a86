package netup

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	"corral.io/corral/internal/testnet"
)

// These tests run netup against the real controller: `corral controller`
// (built once from ./cmd/corral) serves DHCP in one network namespace, netup
// runs in another joined to it by a veth. agent must not import controller,
// so the server is the binary, as on a real provisioning network.

var (
	buildOnce sync.Once
	corralBin string
	buildErr  error
	buildDir  string
)

func TestMain(m *testing.M) {
	code := m.Run()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

// corral builds cmd/corral once per test binary.
func corral(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		buildDir, buildErr = os.MkdirTemp("", "netup-corral-")
		if buildErr != nil {
			return
		}
		corralBin = filepath.Join(buildDir, "corral")
		out, err := exec.Command("go", "build", "-o", corralBin, "corral.io/corral/cmd/corral").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build ./cmd/corral: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return corralBin
}

// lab is a controller namespace (prov0, 10.10.0.1/24) and a node namespace
// (eth0, no address, down) joined by a veth.
type lab struct {
	srv, node *testnet.NS
	mac       net.HardwareAddr
	ctlLog    string // the controller's log file
}

func newLab(t *testing.T, label string) *lab {
	t.Helper()
	l := &lab{srv: testnet.New(t, label+"s"), node: testnet.New(t, label+"n")}
	testnet.Veth(t, l.srv, "prov0", "10.10.0.1/24", l.node, "eth0", "")
	l.node.MustIP("link", "set", "eth0", "down") // netup must set it up itself
	l.mac = l.node.HardwareAddr("eth0")
	return l
}

// startController runs `corral controller` serving DHCP on prov0.
func (l *lab) startController(t *testing.T) { l.startControllerLease(t, "1h") }

// startControllerLease runs `corral controller` leasing for leaseTime.
func (l *lab) startControllerLease(t *testing.T, leaseTime string) {
	t.Helper()
	bin := corral(t)
	dir := t.TempDir()
	cfg := fmt.Sprintf(`apiVersion: corral.io/v1alpha1
kind: ControllerConfig
stateDir: %s
interface: prov0
dhcp:
  mode: authoritative
  subnet: 10.10.0.0/24
  rangeStart: 10.10.0.100
  rangeEnd: 10.10.0.110
  router: 10.10.0.1
  dns: [10.10.0.1, 10.10.0.2]
  domain: lab.corral
  leaseTime: %s
tftp:
  enabled: false
http:
  listen: ":8080"
api:
  listen: ":9443"
`, filepath.Join(dir, "state"), leaseTime)
	path := filepath.Join(dir, "controller.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	logPath := filepath.Join(dir, "controller.log")
	l.ctlLog = logPath
	f, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cmd := l.srv.Command(context.Background(), bin, "controller", "--config", path)
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			b, _ := os.ReadFile(logPath)
			t.Logf("controller log:\n%s", b)
		}
	})
}

// netup runs Up inside the node namespace with short, test-sized waits.
func (l *lab) netup(t *testing.T, cfg Config) (*Result, error) {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(tWriter{t}, nil))
	}
	if cfg.ResolvConf == "" {
		cfg.ResolvConf = filepath.Join(t.TempDir(), "resolv.conf")
	}
	if cfg.CarrierTimeout == 0 {
		cfg.CarrierTimeout = 10 * time.Second
	}
	if cfg.AttemptTimeout == 0 {
		cfg.AttemptTimeout = 2 * time.Second
	}
	if cfg.Attempts == 0 {
		cfg.Attempts = 15
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var res *Result
	err := l.node.Do(func() error {
		var err error
		res, err = Up(ctx, cfg)
		return err
	})
	return res, err
}

// state reads what the node's kernel has on eth0.
func (l *lab) state(t *testing.T) (addrs []string, gateways []string) {
	t.Helper()
	err := l.node.Do(func() error {
		link, err := netlink.LinkByName("eth0")
		if err != nil {
			return err
		}
		as, err := netlink.AddrList(link, netlink.FAMILY_V4)
		if err != nil {
			return err
		}
		for _, a := range as {
			addrs = append(addrs, a.IPNet.String())
		}
		rs, err := netlink.RouteList(link, netlink.FAMILY_V4)
		if err != nil {
			return err
		}
		for _, r := range rs {
			if r.Dst == nil || r.Dst.IP.IsUnspecified() {
				gateways = append(gateways, r.Gw.String())
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return addrs, gateways
}

func TestLabBootIFGetsLeaseFromController(t *testing.T) {
	l := newLab(t, "nb")
	l.startController(t)
	resolv := filepath.Join(t.TempDir(), "etc", "resolv.conf")
	bootif := "BOOTIF=01-" + strings.ReplaceAll(l.mac.String(), ":", "-")
	mac, err := BootMAC("console=ttyS0 " + bootif + " quiet")
	if err != nil {
		t.Fatal(err)
	}
	res, err := l.netup(t, Config{BootMAC: mac, ResolvConf: resolv})
	if err != nil {
		t.Fatal(err)
	}
	if res.Iface != "eth0" || res.Server().String() != "10.10.0.1" {
		t.Errorf("result %s from %s, want eth0 from 10.10.0.1", res.Iface, res.Server())
	}
	pfx := res.Addr()
	if pfx.Bits() != 24 || !strings.HasPrefix(pfx.String(), "10.10.0.1") {
		t.Errorf("leased %s, want an address of 10.10.0.100-110 with prefix /24", pfx)
	}
	addrs, gws := l.state(t)
	if len(addrs) != 1 || addrs[0] != pfx.String() {
		t.Errorf("eth0 has addresses %v, want [%s]", addrs, pfx)
	}
	if len(gws) != 1 || gws[0] != "10.10.0.1" {
		t.Errorf("default routes via %v, want [10.10.0.1]", gws)
	}
	b, err := os.ReadFile(resolv)
	if err != nil {
		t.Fatal(err)
	}
	want := "# written by corral-agent from the DHCP lease\nsearch lab.corral\nnameserver 10.10.0.1\nnameserver 10.10.0.2\n"
	if string(b) != want {
		t.Errorf("resolv.conf:\n%s\nwant:\n%s", b, want)
	}
}

func TestLabWithoutBootIFTriesInterfacesWithCarrier(t *testing.T) {
	l := newLab(t, "na")
	l.startController(t)
	// The lab's NIC is a veth, which Physical rightly refuses; accept it here.
	res, err := l.netup(t, Config{Candidate: func(k Link) bool { return k.Kind == "veth" }})
	if err != nil {
		t.Fatal(err)
	}
	if res.Iface != "eth0" || res.MAC.String() != l.mac.String() {
		t.Errorf("brought up %s (%s), want eth0 (%s)", res.Iface, res.MAC, l.mac)
	}
}

func TestLabWrongBootIFNamesMACAndInterfaces(t *testing.T) {
	l := newLab(t, "nw")
	_, err := l.netup(t, Config{BootMAC: mac("52:54:00:de:ad:01")})
	if err == nil {
		t.Fatal("succeeded with a MAC no interface has")
	}
	for _, w := range []string{"52:54:00:de:ad:01", "eth0 (" + l.mac.String(), "lo ("} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not name %q", err, w)
		}
	}
}

func TestLabNoDHCPServerGivesUpAfterBoundedAttempts(t *testing.T) {
	l := newLab(t, "nn")
	start := time.Now()
	_, err := l.netup(t, Config{BootMAC: l.mac, Attempts: 2, AttemptTimeout: 300 * time.Millisecond})
	if err == nil {
		t.Fatal("got a lease with no DHCP server")
	}
	if took := time.Since(start); took > 20*time.Second {
		t.Errorf("gave up after %s, want a bounded wait", took)
	}
	for _, w := range []string{"no DHCP lease on eth0 after 2 attempts", "DHCPDISCOVER"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not say %q", err, w)
		}
	}
}

func TestLabNoCarrierGivesUpNamingTheInterface(t *testing.T) {
	l := newLab(t, "nc")
	l.srv.MustIP("link", "set", "prov0", "down") // the switch port is dead
	_, err := l.netup(t, Config{BootMAC: l.mac, CarrierTimeout: 500 * time.Millisecond})
	if err == nil || !strings.Contains(err.Error(), "no carrier on eth0 after 500ms") {
		t.Errorf("err %v, want one saying eth0 had no carrier after 500ms", err)
	}
}
