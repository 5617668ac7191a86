package dhcp

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/iana"

	"corral.io/corral/controller/boot/leases"
)

var (
	serverIP = netip.MustParseAddr("10.10.0.1")
	bootCfg  = BootConfig{BIOSFile: "undionly.kpxe", UEFIFile: "ipxe.efi", HTTPBase: "http://10.10.0.1:8080"}
	clientA  = net.HardwareAddr{0x52, 0x54, 0, 0xaa, 0, 1}
	clientB  = net.HardwareAddr{0x52, 0x54, 0, 0xbb, 0, 2}
)

func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tWriter struct{ t testing.TB }

func (w tWriter) Write(p []byte) (int, error) { w.t.Log(string(p)); return len(p), nil }

var _ io.Writer = tWriter{}

func authoritative(t testing.TB) (*Handler, *leases.Store) {
	t.Helper()
	store, err := leases.Open(filepath.Join(t.TempDir(), "l.db"), leases.Pool{
		Start:        netip.MustParseAddr("10.10.0.100"),
		End:          netip.MustParseAddr("10.10.0.199"),
		Reservations: []leases.Reservation{{MAC: clientB, IP: netip.MustParseAddr("10.10.0.20"), Hostname: "worker-b"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	h := NewHandler(Config{
		Mode:      Authoritative,
		ServerIP:  serverIP,
		Subnet:    netip.MustParsePrefix("10.10.0.0/24"),
		Router:    serverIP,
		DNS:       []netip.Addr{serverIP},
		Domain:    "lab.corral",
		LeaseTime: time.Hour,
		Boot:      bootCfg,
	}, store, testLogger(t), nil)
	return h, store
}

func proxy(t testing.TB) *Handler {
	return NewHandler(Config{Mode: Proxy, ServerIP: serverIP, LeaseTime: time.Hour, Boot: bootCfg}, nil, testLogger(t), nil)
}

func discover(t *testing.T, mac net.HardwareAddr, mods ...dhcpv4.Modifier) *dhcpv4.DHCPv4 {
	t.Helper()
	m, err := dhcpv4.NewDiscovery(mac, mods...)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func pxe(arch iana.Arch) []dhcpv4.Modifier {
	return []dhcpv4.Modifier{
		dhcpv4.WithOption(dhcpv4.OptClassIdentifier("PXEClient:Arch:00000:UNDI:002001")),
		dhcpv4.WithOption(dhcpv4.OptClientArch(arch)),
	}
}

func handle(h *Handler, m *dhcpv4.DHCPv4, port int) *Reply {
	return h.Handle(context.Background(), Request{Msg: m, Port: port, Peer: &net.UDPAddr{IP: net.IPv4zero, Port: 68}})
}

func TestBootFileByClient(t *testing.T) {
	tests := []struct {
		name       string
		mods       []dhcpv4.Modifier
		wantFile   string
		wantVendor string
	}{
		{"BIOS PXE gets undionly.kpxe", pxe(iana.INTEL_X86PC), "undionly.kpxe", "PXEClient"},
		{"UEFI x64 (arch 7) gets ipxe.efi", pxe(iana.EFI_X86_64), "ipxe.efi", "PXEClient"},
		{"UEFI x64 (arch 9) gets ipxe.efi", pxe(iana.EFI_BC), "ipxe.efi", "PXEClient"},
		{"PXE without option 93 is a legacy PC", []dhcpv4.Modifier{dhcpv4.WithOption(dhcpv4.OptClassIdentifier("PXEClient"))}, "undionly.kpxe", "PXEClient"},
		{"UEFI HTTP boot gets an HTTP URL and HTTPClient", []dhcpv4.Modifier{
			dhcpv4.WithOption(dhcpv4.OptClassIdentifier("HTTPClient:Arch:00016:UNDI:003001")),
			dhcpv4.WithOption(dhcpv4.OptClientArch(iana.EFI_X86_64_HTTP)),
		}, "http://10.10.0.1:8080/ipxe/ipxe.efi", "HTTPClient"},
		{"iPXE gets its script URL, not the binary again", append(pxe(iana.INTEL_X86PC), dhcpv4.WithUserClass("iPXE", false)),
			"http://10.10.0.1:8080/boot.ipxe?mac=${netX/mac}", "PXEClient"},
		{"ARM64 UEFI has no boot program", pxe(iana.EFI_ARM64), "", ""},
		{"an ordinary client gets no boot file", nil, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, _ := authoritative(t)
			r := handle(h, discover(t, clientA, tt.mods...), 67)
			if r == nil {
				t.Fatal("no reply")
			}
			if r.Msg.MessageType() != dhcpv4.MessageTypeOffer {
				t.Fatalf("reply type %s, want OFFER", r.Msg.MessageType())
			}
			if r.Msg.BootFileName != tt.wantFile {
				t.Errorf("boot file %q, want %q", r.Msg.BootFileName, tt.wantFile)
			}
			if got := r.Msg.ClassIdentifier(); got != tt.wantVendor {
				t.Errorf("option 60 %q, want %q", got, tt.wantVendor)
			}
			if tt.wantFile != "" && !r.Msg.ServerIPAddr.Equal(serverIP.AsSlice()) {
				t.Errorf("next server %s, want %s", r.Msg.ServerIPAddr, serverIP)
			}
			// A PXEClient offer without option 43 tells PXE firmware
			// (OVMF) to ask a boot server on port 4011 instead.
			opt43 := r.Msg.GetOneOption(dhcpv4.OptionVendorSpecificInformation)
			if wantPXE := tt.wantVendor == "PXEClient"; wantPXE != cmp.Equal(opt43, []byte{6, 1, 8, 255}) {
				t.Errorf("option 43 = %v; want PXE_DISCOVERY_CONTROL=8 exactly when the offer is for a PXEClient", opt43)
			}
		})
	}
}

// TestDORA walks a client through RFC 2131 §3.1: DISCOVER, OFFER, REQUEST, ACK.
func TestDORA(t *testing.T) {
	h, store := authoritative(t)
	offer := handle(h, discover(t, clientA), 67)
	if offer == nil || offer.Msg.MessageType() != dhcpv4.MessageTypeOffer {
		t.Fatalf("want OFFER, got %v", offer)
	}
	if got := offer.To.String(); got != "255.255.255.255:68" {
		t.Errorf("offer sent to %s, want broadcast (client has no address yet)", got)
	}
	want := map[string]string{
		"yiaddr": "10.10.0.100", "mask": "ffffff00", "router": "[10.10.0.1]", "dns": "[10.10.0.1]",
		"domain": "lab.corral", "lease": "1h0m0s", "server": "10.10.0.1",
	}
	if diff := cmp.Diff(want, summary(offer.Msg)); diff != "" {
		t.Errorf("offer (-want +got):\n%s", diff)
	}
	req, err := dhcpv4.NewRequestFromOffer(offer.Msg)
	if err != nil {
		t.Fatal(err)
	}
	ack := handle(h, req, 67)
	if ack == nil || ack.Msg.MessageType() != dhcpv4.MessageTypeAck {
		t.Fatalf("want ACK, got %v", ack)
	}
	if diff := cmp.Diff(want, summary(ack.Msg)); diff != "" {
		t.Errorf("ack (-want +got):\n%s", diff)
	}
	if l, ok := store.Lookup(clientA); !ok || l.IP.String() != "10.10.0.100" {
		t.Errorf("lease not recorded: %+v %v", l, ok)
	}
	// A second DISCOVER by the same machine gets the same address.
	if again := handle(h, discover(t, clientA), 67); !again.Msg.YourIPAddr.Equal(ack.Msg.YourIPAddr) {
		t.Errorf("same MAC offered %s after holding %s", again.Msg.YourIPAddr, ack.Msg.YourIPAddr)
	}
}

func summary(m *dhcpv4.DHCPv4) map[string]string {
	return map[string]string{
		"yiaddr": m.YourIPAddr.String(),
		"mask":   m.SubnetMask().String(),
		"router": ipsString(m.Router()),
		"dns":    ipsString(m.DNS()),
		"domain": m.DomainName(),
		"lease":  m.IPAddressLeaseTime(0).String(),
		"server": m.ServerIdentifier().String(),
	}
}

func ipsString(ips []net.IP) string {
	s := "["
	for i, ip := range ips {
		if i > 0 {
			s += " "
		}
		s += ip.String()
	}
	return s + "]"
}

func request(t *testing.T, mac net.HardwareAddr, mods ...dhcpv4.Modifier) *dhcpv4.DHCPv4 {
	t.Helper()
	m, err := dhcpv4.New(append([]dhcpv4.Modifier{
		dhcpv4.WithHwAddr(mac), dhcpv4.WithMessageType(dhcpv4.MessageTypeRequest),
	}, mods...)...)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestRequests(t *testing.T) {
	requested := func(ip string) dhcpv4.Modifier {
		return dhcpv4.WithOption(dhcpv4.OptRequestedIPAddress(net.ParseIP(ip)))
	}
	sid := func(ip string) dhcpv4.Modifier {
		return dhcpv4.WithOption(dhcpv4.OptServerIdentifier(net.ParseIP(ip)))
	}
	tests := []struct {
		name     string
		setup    func(t *testing.T, h *Handler) // e.g. another client takes an address
		msg      func(t *testing.T) *dhcpv4.DHCPv4
		wantType dhcpv4.MessageType // MessageTypeNone: silence
		wantIP   string
		wantTo   string
	}{
		{
			name: "selecting another server's offer is ignored",
			msg: func(t *testing.T) *dhcpv4.DHCPv4 {
				return request(t, clientA, sid("10.10.0.2"), requested("10.10.0.150"))
			},
			wantType: dhcpv4.MessageTypeNone,
		},
		{
			name:     "init-reboot for a free address in the pool is acknowledged",
			msg:      func(t *testing.T) *dhcpv4.DHCPv4 { return request(t, clientA, requested("10.10.0.150")) },
			wantType: dhcpv4.MessageTypeAck, wantIP: "10.10.0.150", wantTo: "255.255.255.255:68",
		},
		{
			name:     "init-reboot from another network is NAKed",
			msg:      func(t *testing.T) *dhcpv4.DHCPv4 { return request(t, clientA, requested("192.168.7.9")) },
			wantType: dhcpv4.MessageTypeNak, wantTo: "255.255.255.255:68",
		},
		{
			name: "an address leased to another client is NAKed",
			setup: func(t *testing.T, h *Handler) {
				if r := handle(h, request(t, clientA, requested("10.10.0.150")), 67); r.Msg.MessageType() != dhcpv4.MessageTypeAck {
					t.Fatal("setup: client A did not get 10.10.0.150")
				}
			},
			msg:      func(t *testing.T) *dhcpv4.DHCPv4 { return request(t, clientB, requested("10.10.0.150")) },
			wantType: dhcpv4.MessageTypeNak, wantTo: "255.255.255.255:68",
		},
		{
			name: "renewing (ciaddr set) is acknowledged by unicast to the client",
			msg: func(t *testing.T) *dhcpv4.DHCPv4 {
				return request(t, clientA, dhcpv4.WithClientIP(net.ParseIP("10.10.0.160")))
			},
			wantType: dhcpv4.MessageTypeAck, wantIP: "10.10.0.160", wantTo: "10.10.0.160:68",
		},
		{
			name: "a relayed request is answered to the relay agent",
			msg: func(t *testing.T) *dhcpv4.DHCPv4 {
				return request(t, clientA, requested("10.10.0.170"), dhcpv4.WithGatewayIP(net.ParseIP("10.10.0.254")))
			},
			wantType: dhcpv4.MessageTypeAck, wantIP: "10.10.0.170", wantTo: "10.10.0.254:67",
		},
		{
			name: "a relay on another subnet is not served",
			msg: func(t *testing.T) *dhcpv4.DHCPv4 {
				return request(t, clientA, requested("10.10.0.170"), dhcpv4.WithGatewayIP(net.ParseIP("172.16.0.1")))
			},
			wantType: dhcpv4.MessageTypeNone,
		},
		{
			name:     "a reserved client gets its address and host name",
			msg:      func(t *testing.T) *dhcpv4.DHCPv4 { return request(t, clientB, requested("10.10.0.20")) },
			wantType: dhcpv4.MessageTypeAck, wantIP: "10.10.0.20", wantTo: "255.255.255.255:68",
		},
		{
			name:     "a reserved client asking for another address is NAKed",
			msg:      func(t *testing.T) *dhcpv4.DHCPv4 { return request(t, clientB, requested("10.10.0.120")) },
			wantType: dhcpv4.MessageTypeNak, wantTo: "255.255.255.255:68",
		},
		{
			name: "a bootreply is dropped",
			msg: func(t *testing.T) *dhcpv4.DHCPv4 {
				m := request(t, clientA, requested("10.10.0.150"))
				m.OpCode = dhcpv4.OpcodeBootReply
				return m
			},
			wantType: dhcpv4.MessageTypeNone,
		},
		{
			name: "a non-Ethernet hardware address is dropped",
			msg: func(t *testing.T) *dhcpv4.DHCPv4 {
				return request(t, net.HardwareAddr{1, 2, 3}, requested("10.10.0.150"))
			},
			wantType: dhcpv4.MessageTypeNone,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, _ := authoritative(t)
			if tt.setup != nil {
				tt.setup(t, h)
			}
			r := handle(h, tt.msg(t), 67)
			if tt.wantType == dhcpv4.MessageTypeNone {
				if r != nil {
					t.Fatalf("want silence, got %s", r.Msg.MessageType())
				}
				return
			}
			if r == nil {
				t.Fatalf("want %s, got silence", tt.wantType)
			}
			got := []string{r.Msg.MessageType().String(), r.To.String()}
			want := []string{tt.wantType.String(), tt.wantTo}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("type and destination (-want +got):\n%s", diff)
			}
			if tt.wantIP != "" && r.Msg.YourIPAddr.String() != tt.wantIP {
				t.Errorf("yiaddr %s, want %s", r.Msg.YourIPAddr, tt.wantIP)
			}
			if r.Msg.MessageType() == dhcpv4.MessageTypeNak && r.Msg.Options.Has(dhcpv4.OptionIPAddressLeaseTime) {
				t.Errorf("a NAK must not carry a lease time (RFC 2131 Table 3)")
			}
			if tt.name == "a reserved client gets its address and host name" && r.Msg.HostName() != "worker-b" {
				t.Errorf("host name %q, want worker-b", r.Msg.HostName())
			}
		})
	}
}

func TestInformGetsOptionsWithoutALease(t *testing.T) {
	h, store := authoritative(t)
	m, err := dhcpv4.NewInform(clientA, net.ParseIP("10.10.0.77"))
	if err != nil {
		t.Fatal(err)
	}
	r := handle(h, m, 67)
	if r == nil || r.Msg.MessageType() != dhcpv4.MessageTypeAck {
		t.Fatalf("want ACK, got %v", r)
	}
	if !r.Msg.YourIPAddr.IsUnspecified() || r.Msg.Options.Has(dhcpv4.OptionIPAddressLeaseTime) {
		t.Errorf("INFORM reply must have no yiaddr and no lease time (RFC 2131 §4.3.5): %s", r.Msg.Summary())
	}
	if r.To.String() != "10.10.0.77:68" {
		t.Errorf("sent to %s, want the client's address", r.To)
	}
	if _, ok := store.Lookup(clientA); ok {
		t.Errorf("INFORM created a lease")
	}
}

func TestDeclineAndRelease(t *testing.T) {
	h, store := authoritative(t)
	ack := handle(h, request(t, clientA, dhcpv4.WithOption(dhcpv4.OptRequestedIPAddress(net.ParseIP("10.10.0.150")))), 67)
	if ack == nil || ack.Msg.MessageType() != dhcpv4.MessageTypeAck {
		t.Fatal("setup: no ACK")
	}
	rel, _ := dhcpv4.NewReleaseFromACK(ack.Msg)
	if r := handle(h, rel, 67); r != nil {
		t.Errorf("RELEASE must not be answered")
	}
	if _, ok := store.Lookup(clientA); ok {
		t.Errorf("lease still held after RELEASE")
	}
	offer := handle(h, discover(t, clientA), 67)
	dec, _ := dhcpv4.New(dhcpv4.WithHwAddr(clientA), dhcpv4.WithMessageType(dhcpv4.MessageTypeDecline),
		dhcpv4.WithOption(dhcpv4.OptRequestedIPAddress(offer.Msg.YourIPAddr)),
		dhcpv4.WithOption(dhcpv4.OptServerIdentifier(serverIP.AsSlice())))
	if r := handle(h, dec, 67); r != nil {
		t.Errorf("DECLINE must not be answered")
	}
	if next := handle(h, discover(t, clientA), 67); next.Msg.YourIPAddr.Equal(offer.Msg.YourIPAddr) {
		t.Errorf("declined address %s offered again", offer.Msg.YourIPAddr)
	}
}

func TestProxy(t *testing.T) {
	h := proxy(t)
	t.Run("a non-PXE client is ignored", func(t *testing.T) {
		if r := handle(h, discover(t, clientA), 67); r != nil {
			t.Errorf("want silence, got %s", r.Msg.Summary())
		}
	})
	t.Run("a PXE DISCOVER gets boot information and no address", func(t *testing.T) {
		r := handle(h, discover(t, clientA, pxe(iana.EFI_X86_64)...), 67)
		if r == nil {
			t.Fatal("no reply")
		}
		m := r.Msg
		if m.MessageType() != dhcpv4.MessageTypeOffer || !m.YourIPAddr.IsUnspecified() || m.BootFileName != "ipxe.efi" {
			t.Errorf("want an OFFER with no yiaddr and ipxe.efi, got %s", m.Summary())
		}
		if m.Options.Has(dhcpv4.OptionIPAddressLeaseTime) || m.Options.Has(dhcpv4.OptionSubnetMask) {
			t.Errorf("proxy offer carries address options")
		}
		if got := m.GetOneOption(dhcpv4.OptionVendorSpecificInformation); !cmp.Equal(got, []byte{6, 1, 8, 255}) {
			t.Errorf("option 43 = %v, want PXE_DISCOVERY_CONTROL=8", got)
		}
	})
	t.Run("a REQUEST on 4011 gets an ACK back to its source", func(t *testing.T) {
		m := request(t, clientA, pxe(iana.INTEL_X86PC)...)
		m.ClientIPAddr = net.ParseIP("192.168.1.50")
		r := h.Handle(context.Background(), Request{Msg: m, Port: 4011, Peer: &net.UDPAddr{IP: net.ParseIP("192.168.1.50"), Port: 4011}})
		if r == nil || r.Msg.MessageType() != dhcpv4.MessageTypeAck || r.Msg.BootFileName != "undionly.kpxe" {
			t.Fatalf("want ACK with undionly.kpxe, got %v", r)
		}
		if r.To.String() != "192.168.1.50:4011" {
			t.Errorf("sent to %s, want 192.168.1.50:4011", r.To)
		}
	})
	t.Run("a REQUEST on 67 is left to the real DHCP server", func(t *testing.T) {
		if r := handle(h, request(t, clientA, pxe(iana.INTEL_X86PC)...), 67); r != nil {
			t.Errorf("want silence, got %s", r.Msg.Summary())
		}
	})
}
