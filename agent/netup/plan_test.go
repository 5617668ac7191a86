package netup

import (
	"net"
	"net/netip"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/insomniacslk/dhcp/dhcpv4"
)

func ack(t *testing.T, yiaddr string, opts ...dhcpv4.Option) *dhcpv4.DHCPv4 {
	t.Helper()
	mods := []dhcpv4.Modifier{dhcpv4.WithMessageType(dhcpv4.MessageTypeAck), dhcpv4.WithYourIP(net.ParseIP(yiaddr))}
	for _, o := range opts {
		mods = append(mods, dhcpv4.WithOption(o))
	}
	m, err := dhcpv4.New(mods...)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func ips(s ...string) []net.IP {
	out := make([]net.IP, len(s))
	for i, v := range s {
		out[i] = net.ParseIP(v)
	}
	return out
}

func TestPlanFromLease(t *testing.T) {
	a := netip.MustParseAddr
	mask24 := dhcpv4.OptSubnetMask(net.CIDRMask(24, 32))
	for _, tc := range []struct {
		name string
		ack  *dhcpv4.DHCPv4
		want Plan
	}{
		{
			name: "every option is applied",
			ack: ack(t, "10.10.0.100", mask24, dhcpv4.OptRouter(ips("10.10.0.1")...), dhcpv4.OptDNS(ips("10.10.0.1", "9.9.9.9")...),
				dhcpv4.OptDomainName("lab.corral"), dhcpv4.OptServerIdentifier(net.ParseIP("10.10.0.1")),
				dhcpv4.OptGeneric(dhcpv4.OptionInterfaceMTU, []byte{0x23, 0x28})),
			want: Plan{Addr: netip.MustParsePrefix("10.10.0.100/24"), Gateway: a("10.10.0.1"), DNS: []netip.Addr{a("10.10.0.1"), a("9.9.9.9")},
				Domain: "lab.corral", MTU: 9000, Server: a("10.10.0.1")},
		},
		{
			name: "only an address and a mask: no route, no resolver",
			ack:  ack(t, "192.168.7.9", dhcpv4.OptSubnetMask(net.CIDRMask(20, 32))),
			want: Plan{Addr: netip.MustParsePrefix("192.168.7.9/20")},
		},
		{
			name: "no mask falls back to the classful mask (RFC 2132 §3.3)",
			ack:  ack(t, "10.1.2.3"),
			want: Plan{Addr: netip.MustParsePrefix("10.1.2.3/8")},
		},
		{
			name: "the first router inside the subnet is the gateway",
			ack:  ack(t, "10.10.0.100", mask24, dhcpv4.OptRouter(ips("192.0.2.1", "10.10.0.100", "10.10.0.254")...)),
			want: Plan{Addr: netip.MustParsePrefix("10.10.0.100/24"), Gateway: a("10.10.0.254")},
		},
		{
			name: "an MTU below 68 is ignored (RFC 2132 §5.1)",
			ack:  ack(t, "10.10.0.100", mask24, dhcpv4.OptGeneric(dhcpv4.OptionInterfaceMTU, []byte{0, 20})),
			want: Plan{Addr: netip.MustParsePrefix("10.10.0.100/24")},
		},
		{
			name: "a domain that would corrupt resolv.conf is dropped",
			ack:  ack(t, "10.10.0.100", mask24, dhcpv4.OptDomainName("evil\nnameserver 6.6.6.6")),
			want: Plan{Addr: netip.MustParsePrefix("10.10.0.100/24")},
		},
		{
			name: "a trailing dot is removed from the domain",
			ack:  ack(t, "10.10.0.100", mask24, dhcpv4.OptDomainName("lab.corral.")),
			want: Plan{Addr: netip.MustParsePrefix("10.10.0.100/24"), Domain: "lab.corral"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := planFromLease(tc.ack)
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(tc.want, got, cmp.Comparer(func(x, y netip.Addr) bool { return x == y }), cmp.Comparer(func(x, y netip.Prefix) bool { return x == y })); d != "" {
				t.Errorf("plan (-want +got):\n%s", d)
			}
		})
	}
}

func TestPlanFromLeaseRefuses(t *testing.T) {
	for _, tc := range []struct {
		name string
		ack  *dhcpv4.DHCPv4
	}{
		{"no lease", nil},
		{"no address", ack(t, "0.0.0.0")},
		{"a broadcast address", ack(t, "255.255.255.255")},
		{"a multicast address", ack(t, "224.0.0.5")},
		{"a non-contiguous mask", ack(t, "10.0.0.5", dhcpv4.OptSubnetMask(net.IPv4Mask(255, 0, 255, 0)))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if p, err := planFromLease(tc.ack); err == nil {
				t.Errorf("accepted: %+v", p)
			}
		})
	}
}

func TestResolvConf(t *testing.T) {
	a := netip.MustParseAddr
	for _, tc := range []struct {
		name string
		plan Plan
		want string
	}{
		{"nothing to write leaves the file alone", Plan{}, ""},
		{"search domain and servers", Plan{DNS: []netip.Addr{a("10.10.0.1")}, Domain: "lab.corral"},
			"# written by corral-agent from the DHCP lease\nsearch lab.corral\nnameserver 10.10.0.1\n"},
		{"at most three servers (resolv.conf(5) MAXNS)", Plan{DNS: []netip.Addr{a("1.1.1.1"), a("2.2.2.2"), a("3.3.3.3"), a("4.4.4.4")}},
			"# written by corral-agent from the DHCP lease\nnameserver 1.1.1.1\nnameserver 2.2.2.2\nnameserver 3.3.3.3\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if d := cmp.Diff(tc.want, string(ResolvConf(tc.plan))); d != "" {
				t.Errorf("resolv.conf (-want +got):\n%s", d)
			}
		})
	}
}

func TestBootMAC(t *testing.T) {
	for _, tc := range []struct {
		name, cmdline, want string
		bad                 bool
	}{
		{name: "PXELINUX form", cmdline: "console=ttyS0 BOOTIF=01-52-54-00-12-34-56 quiet", want: "52:54:00:12:34:56"},
		{name: "plain MAC from iPXE", cmdline: "BOOTIF=52:54:00:ab:cd:ef", want: "52:54:00:ab:cd:ef"},
		{name: "the last occurrence wins", cmdline: "BOOTIF=52:54:00:00:00:01 BOOTIF=52:54:00:00:00:02", want: "52:54:00:00:00:02"},
		{name: "absent", cmdline: "console=ttyS0 quiet\n", want: ""},
		{name: "after -- it belongs to init", cmdline: "quiet -- BOOTIF=52:54:00:00:00:01", want: ""},
		{name: "garbage is an error", cmdline: "BOOTIF=01-zz", bad: true},
		// Split as the kernel splits: a quoted value, and a quoted word
		// holding a space that is not a parameter of its own.
		{name: "quoted value", cmdline: `quiet BOOTIF="01-52-54-00-12-34-56"`, want: "52:54:00:12:34:56"},
		{name: "inside quotes is not a parameter", cmdline: `x="a BOOTIF=52:54:00:00:00:01"`, want: ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mac, err := BootMAC(tc.cmdline)
			if tc.bad {
				if err == nil {
					t.Fatalf("accepted as %s", mac)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := mac.String(); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

// FuzzPlanFromLease feeds arbitrary DHCP packets to the lease decisions: no
// panic, and whatever is accepted is safe to apply and to write.
func FuzzPlanFromLease(f *testing.F) {
	seed, _ := dhcpv4.New(dhcpv4.WithMessageType(dhcpv4.MessageTypeAck), dhcpv4.WithYourIP(net.ParseIP("10.10.0.100")),
		dhcpv4.WithOption(dhcpv4.OptSubnetMask(net.CIDRMask(24, 32))), dhcpv4.WithOption(dhcpv4.OptRouter(net.ParseIP("10.10.0.1"))),
		dhcpv4.WithOption(dhcpv4.OptDNS(net.ParseIP("10.10.0.1"))), dhcpv4.WithOption(dhcpv4.OptDomainName("lab.corral")),
		dhcpv4.WithOption(dhcpv4.OptGeneric(dhcpv4.OptionInterfaceMTU, []byte{5, 220})))
	f.Add(seed.ToBytes())
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := dhcpv4.FromBytes(b)
		if err != nil {
			return
		}
		p, err := planFromLease(m)
		if err != nil {
			return
		}
		if !p.Addr.IsValid() || !p.Addr.Addr().Is4() || p.Addr.Bits() == 0 {
			t.Errorf("accepted address %v", p.Addr)
		}
		if p.Gateway.IsValid() && !p.Addr.Masked().Contains(p.Gateway) {
			t.Errorf("gateway %s outside %s", p.Gateway, p.Addr)
		}
		if p.MTU != 0 && p.MTU < minMTU {
			t.Errorf("MTU %d", p.MTU)
		}
		for _, line := range strings.Split(strings.TrimSuffix(string(ResolvConf(p)), "\n"), "\n") {
			if line != "" && !strings.HasPrefix(line, "#") && !strings.HasPrefix(line, "search ") && !strings.HasPrefix(line, "nameserver ") {
				t.Errorf("resolv.conf line %q", line)
			}
			if !strings.HasPrefix(line, "#") && strings.Count(line, " ") > 1 {
				t.Errorf("resolv.conf line %q has more than one value", line)
			}
		}
	})
}
