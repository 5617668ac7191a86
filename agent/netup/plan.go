package netup

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"

	"github.com/insomniacslk/dhcp/dhcpv4"
)

// Plan is what a lease asks of the machine.
type Plan struct {
	// Addr is the leased address with its prefix length (yiaddr and option 1).
	Addr netip.Prefix
	// Gateway is the first router (option 3) inside Addr's subnet; the zero
	// Addr when the lease gives none, and then no default route is set.
	Gateway netip.Addr
	// DNS are the name servers (option 6), in the server's order.
	DNS []netip.Addr
	// Domain is the domain name (option 15), used as the resolver's search domain.
	Domain string
	// MTU is the interface MTU (option 26); 0 leaves the MTU alone.
	MTU int
	// Server is the DHCP server that acknowledged (option 54).
	Server netip.Addr
}

// minMTU is the smallest MTU RFC 2132 §5.1 allows.
const minMTU = 68

// planFromLease decides what to configure from a DHCPACK. It is pure.
//
// RFC 2132 §3.3: without a subnet mask option the client falls back to the
// address's natural (classful) mask, as dhclient does. Routers outside the
// leased subnet are skipped: the kernel could not reach them without an
// on-link route the server did not ask for.
func planFromLease(ack *dhcpv4.DHCPv4) (Plan, error) {
	if ack == nil {
		return Plan{}, errors.New("no lease")
	}
	ip, ok := netip.AddrFromSlice(ack.YourIPAddr.To4())
	if !ok || ip.IsUnspecified() || ip.IsMulticast() || ip.IsLoopback() || ip == netip.AddrFrom4([4]byte{255, 255, 255, 255}) {
		return Plan{}, fmt.Errorf("lease offers no usable address (yiaddr %v)", ack.YourIPAddr)
	}
	mask := ack.SubnetMask()
	if mask == nil {
		mask = net.IP(ip.AsSlice()).DefaultMask()
	}
	ones, bits := mask.Size()
	if bits != 32 || ones == 0 {
		return Plan{}, fmt.Errorf("lease for %s has an invalid subnet mask %v (option 1)", ip, net.IP(mask))
	}
	p := Plan{Addr: netip.PrefixFrom(ip, ones)}
	subnet := p.Addr.Masked()
	for _, r := range ack.Router() {
		gw, ok := netip.AddrFromSlice(r.To4())
		if ok && gw != ip && !gw.IsUnspecified() && subnet.Contains(gw) {
			p.Gateway = gw
			break
		}
	}
	for _, d := range ack.DNS() {
		if a, ok := netip.AddrFromSlice(d.To4()); ok && !a.IsUnspecified() && !a.IsMulticast() {
			p.DNS = append(p.DNS, a)
		}
	}
	p.Domain = cleanDomain(ack.DomainName())
	if b := ack.Options.Get(dhcpv4.OptionInterfaceMTU); len(b) == 2 {
		if m := int(binary.BigEndian.Uint16(b)); m >= minMTU {
			p.MTU = m
		}
	}
	if s, ok := netip.AddrFromSlice(ack.ServerIdentifier().To4()); ok {
		p.Server = s
	}
	return p, nil
}

// PlanOf is what a lease asks of the machine (its DHCPACK decoded as Up
// and Renew apply it).
func PlanOf(l Lease) (Plan, error) { return planFromLease(l.ACK) }

// cleanDomain keeps a domain name only if it is safe to write into
// resolv.conf: printable, no whitespace, at most 253 characters.
func cleanDomain(d string) string {
	d = strings.TrimSuffix(strings.TrimSpace(d), ".")
	if d == "" || len(d) > 253 {
		return ""
	}
	for _, c := range d {
		if c <= ' ' || c >= 0x7f || c == '#' || c == ';' {
			return ""
		}
	}
	return d
}

// maxNameservers is how many nameserver lines the resolver reads (resolv.conf(5) MAXNS).
const maxNameservers = 3

// ResolvConf renders resolv.conf for a plan; nil when the lease gave
// neither name servers nor a domain (the file is then left alone).
func ResolvConf(p Plan) []byte {
	if len(p.DNS) == 0 && p.Domain == "" {
		return nil
	}
	var b bytes.Buffer
	b.WriteString("# written by corral-agent from the DHCP lease\n")
	if p.Domain != "" {
		fmt.Fprintf(&b, "search %s\n", p.Domain)
	}
	for i, d := range p.DNS {
		if i == maxNameservers {
			break
		}
		fmt.Fprintf(&b, "nameserver %s\n", d)
	}
	return b.Bytes()
}
