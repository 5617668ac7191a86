package dhcp

import (
	"context"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/dhcpv4/server4"
	"github.com/insomniacslk/dhcp/iana"

	"corral.io/corral/controller/boot/leases"
	"corral.io/corral/internal/testnet"
)

// lab is a server namespace running the DHCP server in-process on "prov0"
// (10.10.0.1/24) and a client namespace joined to it by a veth ("eth0").
type lab struct {
	srv, cli *testnet.NS
	store    *leases.Store
}

func startLab(t *testing.T, mode Mode) *lab {
	t.Helper()
	testnet.RequireRoot(t)
	l := &lab{srv: testnet.New(t, "dsrv"), cli: testnet.New(t, "dcli")}
	testnet.Veth(t, l.srv, "prov0", "10.10.0.1/24", l.cli, "eth0", "")
	var h *Handler
	if mode == Proxy {
		h = proxy(t)
	} else {
		h, l.store = authoritative(t)
	}
	var s *Server
	if err := l.srv.Do(func() (err error) {
		s, err = Listen("prov0", 67, mode == Proxy, h, testLogger(t))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("server: %v", err)
		}
	})
	return l
}

// hookScript writes a DHCP client hook that appends its environment to a file
// and returns both paths.
func hookScript(t *testing.T) (script, envFile string) {
	dir := t.TempDir()
	script, envFile = filepath.Join(dir, "hook.sh"), filepath.Join(dir, "env")
	body := "#!/bin/sh\n{ env; echo \"event=$1\"; echo ----; } >> " + envFile + "\n"
	if err := os.WriteFile(script, []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	return script, envFile
}

// lastEvent returns the variables of the last hook call whose variable
// eventVar equals one of events.
func lastEvent(t *testing.T, envFile, eventVar string, events ...string) map[string]string {
	t.Helper()
	b, err := os.ReadFile(envFile)
	if err != nil {
		t.Fatalf("the client never called its hook: %v", err)
	}
	var last map[string]string
	for _, block := range strings.Split(string(b), "----\n") {
		vars := map[string]string{}
		for _, line := range strings.Split(block, "\n") {
			if k, v, ok := strings.Cut(line, "="); ok {
				vars[k] = v
			}
		}
		for _, e := range events {
			if vars[eventVar] == e {
				last = vars
			}
		}
	}
	if last == nil {
		t.Fatalf("no %s=%v event in the client's hook calls:\n%s", eventVar, events, b)
	}
	return last
}

func run(t *testing.T, ns *testnet.NS, name string, args ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	out, err := ns.Command(ctx, name, args...).CombinedOutput()
	t.Logf("%s %s:\n%s", name, strings.Join(args, " "), out)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
}

// TestDhclientGetsLeaseWithOptions runs ISC dhclient against the server.
func TestDhclientGetsLeaseWithOptions(t *testing.T) {
	testnet.RequireCommands(t, "dhclient")
	l := startLab(t, Authoritative)
	script, env := hookScript(t)
	dir := t.TempDir()
	run(t, l.cli, "dhclient", "-1", "-v", "-sf", script, "-lf", filepath.Join(dir, "lease"), "-pf", filepath.Join(dir, "pid"), "eth0")
	t.Cleanup(func() {
		_ = l.cli.Command(context.Background(), "dhclient", "-x", "-pf", filepath.Join(dir, "pid")).Run()
	})
	got := lastEvent(t, env, "reason", "BOUND")
	want := map[string]string{
		"new_ip_address":             "10.10.0.100",
		"new_subnet_mask":            "255.255.255.0",
		"new_routers":                "10.10.0.1",
		"new_domain_name_servers":    "10.10.0.1",
		"new_domain_name":            "lab.corral",
		"new_dhcp_lease_time":        "3600",
		"new_dhcp_server_identifier": "10.10.0.1",
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
	mac := l.cli.HardwareAddr("eth0")
	if lease, ok := l.store.Lookup(mac); !ok || lease.IP != netip.MustParseAddr("10.10.0.100") {
		t.Errorf("server has no lease for %s: %+v", mac, lease)
	}
}

// TestUdhcpcPXEClientsGetBootFileByArch poses busybox udhcpc as PXE firmware
// of each architecture (options 60, 93, 97), and checks the same MAC keeps
// its address across requests.
func TestUdhcpcPXEClientsGetBootFileByArch(t *testing.T) {
	testnet.RequireCommands(t, "busybox")
	l := startLab(t, Authoritative)
	tests := []struct {
		name, vendor, arch, want string
	}{
		{"BIOS", "PXEClient:Arch:00000:UNDI:002001", "0000", "undionly.kpxe"},
		{"UEFI x64", "PXEClient:Arch:00007:UNDI:003016", "0007", "ipxe.efi"},
		{"UEFI HTTP", "HTTPClient:Arch:00016:UNDI:003001", "0010", "http://10.10.0.1:8080/ipxe/ipxe.efi"},
	}
	var first string
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			script, env := hookScript(t)
			run(t, l.cli, "busybox", "udhcpc", "-i", "eth0", "-f", "-q", "-n", "-t", "5", "-T", "1",
				"-s", script, "-V", tt.vendor,
				"-x", "0x5d:"+tt.arch, // option 93, client system architecture
				"-x", "0x61:00"+strings.Repeat("5a", 16), // option 97, client machine identifier (GUID)
			)
			got := lastEvent(t, env, "event", "bound")
			if got["boot_file"] != tt.want {
				t.Errorf("boot_file = %q, want %q", got["boot_file"], tt.want)
			}
			if got["siaddr"] != "10.10.0.1" {
				t.Errorf("siaddr = %q, want the controller 10.10.0.1", got["siaddr"])
			}
			if first == "" {
				first = got["ip"]
			} else if got["ip"] != first {
				t.Errorf("same MAC got %s, earlier %s", got["ip"], first)
			}
		})
	}
}

// TestProxyDHCPAnswersPXEClientsOnly runs the server in proxy mode beside
// nothing: a PXE client gets a boot file but no address, an ordinary client
// gets nothing.
func TestProxyDHCPAnswersPXEClientsOnly(t *testing.T) {
	l := startLab(t, Proxy)
	conn := clientConn(t, l.cli)
	mac := l.cli.HardwareAddr("eth0")

	pxeReq, _ := newDiscover(mac, true)
	reply := exchange(t, conn, pxeReq, 67)
	if reply == nil {
		t.Fatal("no proxy offer for a PXE client")
	}
	if !reply.YourIPAddr.IsUnspecified() || reply.BootFileName != "undionly.kpxe" {
		t.Errorf("proxy offer: yiaddr %s file %q; want none and undionly.kpxe", reply.YourIPAddr, reply.BootFileName)
	}
	plain, _ := newDiscover(mac, false)
	if r := exchange(t, conn, plain, 67); r != nil {
		t.Errorf("proxy answered a non-PXE client: %s", r.Summary())
	}
}

// clientConn is a UDP socket on the client's port 68, bound to eth0 inside
// the client namespace, able to send broadcasts before it has an address.
func clientConn(t *testing.T, ns *testnet.NS) *net.UDPConn {
	t.Helper()
	var c *net.UDPConn
	if err := ns.Do(func() (err error) {
		c, err = server4.NewIPv4UDPConn("eth0", &net.UDPAddr{Port: dhcpv4.ClientPort})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func newDiscover(mac net.HardwareAddr, pxe bool) (*dhcpv4.DHCPv4, error) {
	mods := []dhcpv4.Modifier{dhcpv4.WithBroadcast(true)}
	if pxe {
		mods = append(mods,
			dhcpv4.WithOption(dhcpv4.OptClassIdentifier("PXEClient:Arch:00000:UNDI:002001")),
			dhcpv4.WithOption(dhcpv4.OptClientArch(iana.INTEL_X86PC)))
	}
	return dhcpv4.NewDiscovery(mac, mods...)
}

// exchange broadcasts m to port and returns the first reply with its
// transaction id, or nil after two seconds of silence.
func exchange(t *testing.T, c *net.UDPConn, m *dhcpv4.DHCPv4, port int) *dhcpv4.DHCPv4 {
	t.Helper()
	if _, err := c.WriteTo(m.ToBytes(), &net.UDPAddr{IP: net.IPv4bcast, Port: port}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(2 * time.Second)
	buf := make([]byte, 1500)
	for {
		_ = c.SetReadDeadline(deadline)
		n, _, err := c.ReadFrom(buf)
		if err != nil {
			return nil // timeout: silence
		}
		r, err := dhcpv4.FromBytes(buf[:n])
		if err == nil && r.TransactionID == m.TransactionID && r.OpCode == dhcpv4.OpcodeBootReply {
			return r
		}
	}
}
