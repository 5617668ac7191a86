package netup

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"syscall"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/dhcpv4/nclient4"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Handle is the real Netlink, over an rtnetlink socket opened in the network
// namespace of the thread that called NewNetlink.
type Handle struct{ h *netlink.Handle }

// NewNetlink opens a netlink handle in the calling thread's network namespace.
func NewNetlink() (*Handle, error) {
	h, err := netlink.NewHandle(unix.NETLINK_ROUTE)
	if err != nil {
		return nil, fmt.Errorf("open netlink: %w", err)
	}
	return &Handle{h: h}, nil
}

// Close closes the netlink socket.
func (h *Handle) Close() { h.h.Close() }

// Links lists the interfaces.
func (h *Handle) Links() ([]Link, error) {
	ls, err := h.h.LinkList()
	if err != nil {
		return nil, err
	}
	out := make([]Link, 0, len(ls))
	for _, l := range ls {
		a := l.Attrs()
		out = append(out, Link{
			Name:     a.Name,
			Index:    a.Index,
			MAC:      a.HardwareAddr,
			Kind:     l.Type(),
			Loopback: a.Flags&net.FlagLoopback != 0,
			Carrier:  a.RawFlags&unix.IFF_LOWER_UP != 0,
		})
	}
	return out, nil
}

// SetUp sets the link up.
func (h *Handle) SetUp(l Link) error {
	link, err := h.h.LinkByIndex(l.Index)
	if err != nil {
		return err
	}
	return h.h.LinkSetUp(link)
}

// Apply sets the MTU, replaces the address and the default route.
func (h *Handle) Apply(l Link, p Plan) error {
	link, err := h.h.LinkByIndex(l.Index)
	if err != nil {
		return err
	}
	if p.MTU > 0 && link.Attrs().MTU != p.MTU {
		if err := h.h.LinkSetMTU(link, p.MTU); err != nil {
			return fmt.Errorf("set MTU %d: %w", p.MTU, err)
		}
	}
	addr := &netlink.Addr{IPNet: &net.IPNet{IP: p.Addr.Addr().AsSlice(), Mask: net.CIDRMask(p.Addr.Bits(), 32)}}
	if err := h.h.AddrReplace(link, addr); err != nil {
		return fmt.Errorf("add address %s: %w", p.Addr, err)
	}
	if p.Gateway.IsValid() {
		r := &netlink.Route{
			LinkIndex: l.Index,
			Dst:       &net.IPNet{IP: net.IPv4zero.To4(), Mask: net.CIDRMask(0, 32)},
			Gw:        p.Gateway.AsSlice(),
			Protocol:  unix.RTPROT_DHCP,
		}
		if err := h.h.RouteReplace(r); err != nil {
			return fmt.Errorf("add default route via %s: %w", p.Gateway, err)
		}
	}
	return nil
}

// RemoveAddr removes an address from the interface (a renewal that
// changed the address).
func (h *Handle) RemoveAddr(l Link, a netip.Prefix) error {
	link, err := h.h.LinkByIndex(l.Index)
	if err != nil {
		return err
	}
	return h.h.AddrDel(link, &netlink.Addr{IPNet: &net.IPNet{IP: a.Addr().AsSlice(), Mask: net.CIDRMask(a.Bits(), 32)}})
}

// DialNclient4 opens an nclient4 client (a raw socket bound to the link) in
// the calling thread's network namespace. nclient4 retries are off: Up
// retries with backoff itself.
func DialNclient4(l Link, timeout time.Duration) (DHCPClient, error) {
	c, err := nclient4.New(l.Name, nclient4.WithTimeout(timeout), nclient4.WithRetry(1))
	if err != nil {
		return nil, err
	}
	return nclient{c}, nil
}

type nclient struct{ c *nclient4.Client }

func (n nclient) Close() error { return n.c.Close() }

func (n nclient) Lease(ctx context.Context) (*dhcpv4.DHCPv4, error) {
	l, err := n.c.Request(ctx, dhcpv4.WithRequestedOptions(dhcpv4.OptionInterfaceMTU, dhcpv4.OptionServerIdentifier))
	if err != nil {
		if errors.Is(err, syscall.ENETDOWN) {
			return nil, fmt.Errorf("interface went down: %w", err)
		}
		return nil, err
	}
	return l.ACK, nil
}
