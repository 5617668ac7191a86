// Package ra sends IPv6 Router Advertisements that configure nothing, so
// that network-boot firmware stops waiting for an IPv6 router.
//
// iPXE brings a NIC up with every configurator it has — DHCPv4 and IPv6
// autoconfiguration — and waits for all of them before it fetches anything.
// On a provisioning network without an IPv6 router, the IPv6 one only gives
// up after its timeout: measured here with Debian's iPXE, the boot script
// came 16.9 s after the DHCPv4 offer, 0.1 s after it once advertisements
// were sent. The advertisements this package sends announce a router
// lifetime of 0 (RFC 4861 §4.2: "not a default router"), no prefixes and
// neither the M nor the O flag, so hosts take no address, no route and no
// DHCPv6 from them: they only learn there is nothing to wait for.
//
// Like a router (RFC 4861 §6.2.4, §6.2.6) it advertises to all nodes
// (ff02::1) at start and then every Interval, and answers a Router
// Solicitation (hop limit 255 only, §6.1.1) at once, rate limited to one
// multicast advertisement per MinDelayBetweenRAs.
package ra

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv6"
)

// MinDelayBetweenRAs is RFC 4861 §10's MIN_DELAY_BETWEEN_RAS: solicited
// multicast advertisements come no closer together than this.
const MinDelayBetweenRAs = 3 * time.Second

// Advertisement is the ICMPv6 Router Advertisement message (RFC 4861 §4.2)
// that configures nothing: current hop limit 64, no flags, router lifetime
// 0, reachable time and retransmission timer unspecified, no options. The
// checksum is left 0: the kernel fills it in for ICMPv6 raw sockets
// (RFC 3542 §3.1).
func Advertisement() []byte {
	return []byte{
		byte(ipv6.ICMPTypeRouterAdvertisement), 0, // type, code
		0, 0, // checksum
		64,   // cur hop limit
		0,    // M=0, O=0
		0, 0, // router lifetime: not a default router
		0, 0, 0, 0, // reachable time: unspecified
		0, 0, 0, 0, // retrans timer: unspecified
	}
}

// IsSolicitation reports whether an ICMPv6 message received with this hop
// limit is a valid Router Solicitation to answer (RFC 4861 §6.1.1: hop
// limit 255, code 0, at least 8 octets).
func IsSolicitation(msg []byte, hopLimit int) bool {
	return len(msg) >= 8 && msg[0] == byte(ipv6.ICMPTypeRouterSolicitation) && msg[1] == 0 && hopLimit == 255
}

// Sender advertises on one interface.
type Sender struct {
	// Interface is where to advertise.
	Interface string
	// Interval between unsolicited advertisements; default 10 s.
	Interval time.Duration
	// Logger receives what happens.
	Logger *slog.Logger

	mu      sync.Mutex
	lastRA  time.Time
	pending bool
}

// Run advertises until ctx is done. Advertisements are an optimisation,
// so Run never fails the controller: while the interface is missing or has
// no IPv6 link-local address (IPv6 off, or duplicate address detection not
// done yet), or after a socket error, it says so once and tries again.
func (s *Sender) Run(ctx context.Context) error {
	log := s.logger()
	warned := false
	for ctx.Err() == nil {
		ifi, err := net.InterfaceByName(s.Interface)
		var pc *ipv6.PacketConn
		if err == nil {
			pc, err = listen(ifi)
		}
		if err == nil {
			err = s.serve(ctx, ifi, pc)
		}
		if err != nil && ctx.Err() == nil {
			if !warned {
				log.Warn("router advertisements: cannot send on the interface; retrying quietly (is IPv6 disabled? set dhcp.routerAdvertisements: false to stop trying)", "err", err)
				warned = true
			} else {
				log.Debug("router advertisements: still cannot send", "err", err)
			}
		}
		select {
		case <-ctx.Done():
		case <-time.After(2 * time.Second):
		}
	}
	return nil
}

func (s *Sender) logger() *slog.Logger {
	log := s.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return log.With("iface", s.Interface)
}

// serve advertises on pc until ctx is done, and closes pc.
func (s *Sender) serve(ctx context.Context, ifi *net.Interface, pc *ipv6.PacketConn) error {
	log := s.logger()
	interval := s.Interval
	if interval <= 0 {
		interval = 10 * time.Second
	}
	defer pc.Close()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		<-ctx.Done()
		pc.Close()
	}()
	log.Info("sending IPv6 router advertisements that configure nothing (lifetime 0, no prefix), so iPXE does not wait for a router", "interval", interval)

	all := &net.IPAddr{IP: net.IPv6linklocalallnodes, Zone: ifi.Name}
	send := func(why string) bool {
		if _, err := pc.WriteTo(Advertisement(), nil, all); err != nil {
			if ctx.Err() == nil {
				log.Debug("router advertisement not sent", "why", why, "err", err)
			}
			return false
		}
		s.mu.Lock()
		s.lastRA = time.Now()
		s.mu.Unlock()
		log.Debug("router advertisement sent", "why", why)
		return true
	}
	go func() {
		// The link-local address may still be tentative (duplicate
		// address detection): retry the first one briefly.
		for i := 0; i < 20 && !send("start") && ctx.Err() == nil; i++ {
			time.Sleep(250 * time.Millisecond)
		}
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				send("periodic")
			}
		}
	}()

	buf := make([]byte, 1500)
	for {
		n, cm, src, err := pc.ReadFrom(buf)
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return nil
			}
			return fmt.Errorf("router advertisements: read: %w", err)
		}
		if cm == nil || cm.IfIndex != ifi.Index || !IsSolicitation(buf[:n], cm.HopLimit) {
			continue
		}
		log.Debug("router solicitation", "from", src)
		s.answer(ctx, func(why string) { send(why) })
	}
}

// answer sends an advertisement now, or once MinDelayBetweenRAs has passed
// since the last one; solicitations meanwhile share it.
func (s *Sender) answer(ctx context.Context, send func(string)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.pending {
		return
	}
	wait := time.Until(s.lastRA.Add(MinDelayBetweenRAs))
	if wait <= 0 {
		s.lastRA = time.Now() // claimed; send sets it again
		go send("solicited")
		return
	}
	s.pending = true
	go func() {
		select {
		case <-ctx.Done():
		case <-time.After(wait):
			send("solicited")
		}
		s.mu.Lock()
		s.pending = false
		s.mu.Unlock()
	}()
}

// listen opens the ICMPv6 socket, once ifi has a link-local address to
// send from, set up to send on ifi with hop limit 255 (RFC 4861 §6.1.2) and
// to receive solicitations sent to all routers, with their hop limit and
// interface. It is bound to no address: a raw socket bound to one receives
// nothing sent to a multicast group.
func listen(ifi *net.Interface) (*ipv6.PacketConn, error) {
	addrs, err := ifi.Addrs()
	if err != nil {
		return nil, err
	}
	ll := false
	for _, a := range addrs {
		if ip, ok := a.(*net.IPNet); ok && ip.IP.To4() == nil && ip.IP.IsLinkLocalUnicast() {
			ll = true
		}
	}
	if !ll {
		return nil, errors.New("no IPv6 link-local address")
	}
	c, err := icmp.ListenPacket("ip6:ipv6-icmp", "::")
	if err != nil {
		return nil, err
	}
	pc := c.IPv6PacketConn()
	var f ipv6.ICMPFilter
	f.SetAll(true)
	f.Accept(ipv6.ICMPTypeRouterSolicitation)
	errs := []error{
		pc.SetICMPFilter(&f),
		pc.SetMulticastHopLimit(255),
		pc.SetHopLimit(255),
		pc.SetMulticastInterface(ifi),
		pc.SetControlMessage(ipv6.FlagHopLimit|ipv6.FlagInterface, true),
		pc.JoinGroup(ifi, &net.IPAddr{IP: net.ParseIP("ff02::2")}),
	}
	if err := errors.Join(errs...); err != nil {
		c.Close()
		return nil, err
	}
	return pc, nil
}
