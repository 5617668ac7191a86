package k3s

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"

	"corral.io/corral/api/v1alpha1"
)

// ProvisioningNIC finds the interface the node reaches the cluster on, to
// pin node-ip and flannel-iface to it (k3s#1523: on a multi-NIC host k3s
// otherwise picks the default route's). The boot NIC of the inventory
// (BOOTIF) wins when it has an IPv4 address; else the interface holding
// the address the kernel uses to reach the k3s server (a route lookup: a
// UDP socket is connected, no packet is sent).
func ProvisioningNIC(inv *v1alpha1.Inventory, serverURL string) (NIC, error) {
	if nic, ok := bootNIC(inv); ok {
		return nic, nil
	}
	u, err := url.Parse(serverURL)
	if err != nil || u.Hostname() == "" {
		return NIC{}, fmt.Errorf("k3s server URL %q: no host", serverURL)
	}
	port := u.Port()
	if port == "" {
		port = "6443"
	}
	c, err := net.Dial("udp4", net.JoinHostPort(u.Hostname(), port))
	if err != nil {
		return NIC{}, fmt.Errorf("no route to the k3s server %s: %w", u.Host, err)
	}
	local := c.LocalAddr().(*net.UDPAddr).AddrPort().Addr().Unmap()
	c.Close()
	ifaces, err := net.Interfaces()
	if err != nil {
		return NIC{}, fmt.Errorf("list interfaces: %w", err)
	}
	for _, ifc := range ifaces {
		addrs, err := ifc.Addrs()
		if err != nil {
			continue
		}
		for _, a := range addrs {
			if n, ok := a.(*net.IPNet); ok {
				if ip, ok := netip.AddrFromSlice(n.IP); ok && ip.Unmap() == local {
					return NIC{Name: ifc.Name, Addr: local}, nil
				}
			}
		}
	}
	return NIC{}, fmt.Errorf("the route to %s leaves from %s, which no interface holds", u.Host, local)
}

// bootNIC is the inventory's boot NIC and its first IPv4 address.
func bootNIC(inv *v1alpha1.Inventory) (NIC, bool) {
	if inv == nil {
		return NIC{}, false
	}
	for _, n := range inv.NICs {
		if !n.Boot {
			continue
		}
		for _, a := range n.Addresses {
			if p, err := netip.ParsePrefix(a); err == nil && p.Addr().Is4() {
				return NIC{Name: n.Name, Addr: p.Addr()}, true
			}
		}
	}
	return NIC{}, false
}

var errNoK3s = errors.New("k3s not in this image (built without k3s): not joining the cluster")
