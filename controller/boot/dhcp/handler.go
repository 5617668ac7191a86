// Package dhcp is the controller's DHCPv4 server: authoritative on the
// provisioning network (addresses, options, PXE boot files) or proxyDHCP beside
// an existing server (boot information only).
//
// The Handler takes a parsed packet and returns the reply, so the protocol is
// tested without sockets; Server owns the sockets. Behaviour follows RFC 2131
// (message handling, §4.3), RFC 2132 (options), RFC 4578 (client architecture)
// and the PXE 2.1 specification (proxyDHCP, port 4011).
package dhcp

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"

	"corral.io/corral/controller/boot/leases"
)

// Mode is how the server takes part in address assignment.
type Mode int

// Modes.
const (
	// Authoritative hands out addresses and boot information.
	Authoritative Mode = iota
	// Proxy hands out boot information only, to PXE clients only.
	Proxy
)

// Leaser is the address book the handler needs (implemented by leases.Store).
type Leaser interface {
	Offer(mac net.HardwareAddr, requested netip.Addr) (netip.Addr, error)
	Commit(ctx context.Context, mac net.HardwareAddr, a netip.Addr, hostname string, d time.Duration) (leases.Lease, error)
	Release(ctx context.Context, mac net.HardwareAddr, a netip.Addr) error
	Decline(mac net.HardwareAddr, a netip.Addr)
}

// Config is what the handler answers with.
type Config struct {
	Mode Mode
	// ServerIP is the controller's address: server identifier (option 54)
	// and next server (siaddr) for TFTP.
	ServerIP netip.Addr
	// Subnet is the provisioning subnet (authoritative mode).
	Subnet    netip.Prefix
	Router    netip.Addr
	DNS       []netip.Addr
	NTP       []netip.Addr
	Domain    string
	LeaseTime time.Duration
	Boot      BootConfig
}

// Handler answers DHCP requests.
type Handler struct {
	cfg     Config
	leases  Leaser
	log     *slog.Logger
	metrics *Metrics
	// warns rate-limits "cannot answer": under pool exhaustion or a
	// failing disk every packet would log one.
	warns limiter
}

// NewHandler returns a handler. leases may be nil in proxy mode.
func NewHandler(cfg Config, l Leaser, log *slog.Logger, m *Metrics) *Handler {
	if m == nil {
		m = NewMetrics(nil, nil)
	}
	return &Handler{cfg: cfg, leases: l, log: log, metrics: m, warns: limiter{every: warnEvery, now: time.Now}}
}

// Request is a parsed packet with where it came from.
type Request struct {
	Msg *dhcpv4.DHCPv4
	// Port is the local port it arrived on: 67, or 4011 for PXE boot
	// server requests (proxy mode).
	Port int
	// Peer is the source address of the packet.
	Peer *net.UDPAddr
}

// Reply is a packet to send and where to.
type Reply struct {
	Msg *dhcpv4.DHCPv4
	To  *net.UDPAddr
}

// Packet parses a datagram and answers it. A malformed packet (truncated,
// bad option lengths, no magic cookie) is counted, logged at debug level, and
// dropped.
func (h *Handler) Packet(ctx context.Context, b []byte, port int, peer *net.UDPAddr) *Reply {
	msg, err := dhcpv4.FromBytes(b)
	if err != nil {
		h.metrics.invalid.Inc()
		h.log.Debug("dropped malformed packet", "peer", peer.String(), "bytes", len(b), "err", err)
		return nil
	}
	return h.Handle(ctx, Request{Msg: msg, Port: port, Peer: peer})
}

// Handle answers one request. A nil reply means stay silent, which the log
// explains at debug level.
func (h *Handler) Handle(ctx context.Context, r Request) *Reply {
	req := r.Msg
	// Lazy: formatting the MAC and xid per packet costs CPU that a
	// server logging at warn level never uses.
	log := h.log.With("mac", lazy(req.ClientHWAddr.String), "xid", lazy(req.TransactionID.String))
	mt := req.MessageType()
	h.metrics.received(mt)
	if req.OpCode != dhcpv4.OpcodeBootRequest {
		h.drop(log, "not a BOOTREQUEST")
		return nil
	}
	if len(req.ClientHWAddr) != 6 {
		h.drop(log, "hardware address is not 6-byte Ethernet", "hlen", len(req.ClientHWAddr))
		return nil
	}
	if gi := addr(req.GatewayIPAddr); gi.IsValid() && h.cfg.Mode == Authoritative && !h.cfg.Subnet.Contains(gi) {
		// One pool serves one subnet: a relay on another network would hand
		// its clients addresses that do not work there.
		h.drop(log, "relay agent is not on the configured subnet", "giaddr", gi)
		return nil
	}
	var resp *dhcpv4.DHCPv4
	var err error
	if h.cfg.Mode == Proxy {
		resp, err = h.proxy(log, r)
	} else {
		resp, err = h.authoritative(ctx, log, req)
	}
	if err != nil {
		if ctx.Err() != nil {
			h.drop(log, "shutting down")
			return nil
		}
		h.metrics.dropped("error")
		if ok, n := h.warns.allow(); ok {
			if n > 0 {
				log.Warn("cannot answer", "type", mt.String(), "err", err, "suppressed", n)
			} else {
				log.Warn("cannot answer", "type", mt.String(), "err", err)
			}
		}
		return nil
	}
	if resp == nil {
		return nil
	}
	h.metrics.sent(resp.MessageType())
	return &Reply{Msg: resp, To: replyAddr(req, resp, r)}
}

func (h *Handler) drop(log *slog.Logger, why string, args ...any) {
	log.Debug("dropped", append([]any{"why", why}, args...)...)
	h.metrics.dropped(why)
}

// authoritative implements RFC 2131 §4.3 for a server that owns the subnet.
func (h *Handler) authoritative(ctx context.Context, log *slog.Logger, req *dhcpv4.DHCPv4) (*dhcpv4.DHCPv4, error) {
	mac := req.ClientHWAddr
	switch mt := req.MessageType(); mt {
	case dhcpv4.MessageTypeDiscover:
		a, err := h.leases.Offer(mac, addr(req.RequestedIPAddress()))
		if err != nil {
			return nil, err
		}
		log.Info("offer", "ip", a)
		return h.reply(req, dhcpv4.MessageTypeOffer, a, classify(req))

	case dhcpv4.MessageTypeRequest:
		sid := addr(req.ServerIdentifier())
		var want netip.Addr
		switch {
		case sid.IsValid() && sid != h.cfg.ServerIP:
			// SELECTING another server's offer (§4.3.2): ours is free again.
			h.drop(log, "client selected another server", "server", sid)
			return nil, nil
		case sid.IsValid(): // SELECTING
			want = addr(req.RequestedIPAddress())
		case addr(req.RequestedIPAddress()).IsValid(): // INIT-REBOOT
			want = addr(req.RequestedIPAddress())
		default: // RENEWING or REBINDING: the address is in ciaddr
			want = addr(req.ClientIPAddr)
		}
		if !want.IsValid() || !h.cfg.Subnet.Contains(want) {
			log.Info("nak", "ip", want, "why", "not on this network")
			return h.nak(req, "requested address is not on this network")
		}
		l, err := h.leases.Commit(ctx, mac, want, req.HostName(), h.cfg.LeaseTime)
		if errors.Is(err, leases.ErrUnavailable) {
			log.Info("nak", "ip", want, "why", err)
			return h.nak(req, "requested address is not available to this client")
		}
		if err != nil {
			return nil, err // not durable: stay silent, the client retries
		}
		log.Info("ack", "ip", l.IP, "expires", l.Expires)
		resp, err := h.reply(req, dhcpv4.MessageTypeAck, l.IP, classify(req))
		if err == nil && l.Hostname != "" {
			resp.UpdateOption(dhcpv4.OptHostName(l.Hostname))
		}
		return resp, err

	case dhcpv4.MessageTypeDecline: // §4.3.3
		if sid := addr(req.ServerIdentifier()); sid != h.cfg.ServerIP {
			h.drop(log, "decline for another server")
			return nil, nil
		}
		a := addr(req.RequestedIPAddress())
		h.leases.Decline(mac, a)
		log.Warn("client declined address: in use by another host", "ip", a)
		return nil, nil

	case dhcpv4.MessageTypeRelease: // §4.3.4
		a := addr(req.ClientIPAddr)
		if err := h.leases.Release(ctx, mac, a); err != nil {
			return nil, err
		}
		log.Info("released", "ip", a)
		return nil, nil

	case dhcpv4.MessageTypeInform: // §4.3.5: options only, no lease
		resp, err := h.reply(req, dhcpv4.MessageTypeAck, netip.Addr{}, classify(req))
		if err != nil {
			return nil, err
		}
		resp.DeleteOption(dhcpv4.OptionIPAddressLeaseTime)
		resp.DeleteOption(dhcpv4.OptionRenewTimeValue)
		resp.DeleteOption(dhcpv4.OptionRebindingTimeValue)
		return resp, nil

	default:
		h.drop(log, "unexpected message type", "type", mt.String())
		return nil, nil
	}
}

// proxy implements proxyDHCP (PXE 2.1 §2.2.2): PXE clients get boot
// information without an address, on port 67 (an OFFER beside the real
// server's) and on port 4011 (an ACK to the boot server request).
func (h *Handler) proxy(log *slog.Logger, r Request) (*dhcpv4.DHCPv4, error) {
	req := r.Msg
	c := classify(req)
	if !c.PXE && !c.HTTPBoot {
		h.drop(log, "not a PXE client (proxy mode answers PXE clients only)")
		return nil, nil
	}
	var mt dhcpv4.MessageType
	switch {
	case r.Port == 4011 && req.MessageType() == dhcpv4.MessageTypeRequest:
		mt = dhcpv4.MessageTypeAck
	case r.Port != 4011 && req.MessageType() == dhcpv4.MessageTypeDiscover:
		mt = dhcpv4.MessageTypeOffer
	default:
		h.drop(log, "proxy mode answers DISCOVER on 67 and REQUEST on 4011 only", "type", req.MessageType().String(), "port", r.Port)
		return nil, nil
	}
	b, ok := decideBoot(c, h.cfg.Boot)
	if !ok {
		h.drop(log, "no boot program for this client architecture", "arch", c.Arch)
		return nil, nil
	}
	resp, err := dhcpv4.NewReplyFromRequest(req,
		dhcpv4.WithMessageType(mt),
		dhcpv4.WithServerIP(h.cfg.ServerIP.AsSlice()),
		dhcpv4.WithOption(dhcpv4.OptServerIdentifier(h.cfg.ServerIP.AsSlice())),
		dhcpv4.WithOption(dhcpv4.OptClassIdentifier(b.VendorClass)),
		// PXE 2.1 Table 2-1, PXE_DISCOVERY_CONTROL (tag 6) = 8: skip boot
		// server discovery and use the boot file of this reply.
		dhcpv4.WithOption(dhcpv4.OptGeneric(dhcpv4.OptionVendorSpecificInformation, []byte{6, 1, 8, 255})),
	)
	if err != nil {
		return nil, err
	}
	resp.BootFileName = b.File
	log.Info("proxy boot", "type", mt.String(), "file", b.File, "arch", c.Arch)
	return resp, nil
}

// reply builds an OFFER or ACK for yiaddr a with the network's options and,
// for a network-booting client, its boot file.
func (h *Handler) reply(req *dhcpv4.DHCPv4, mt dhcpv4.MessageType, a netip.Addr, c Client) (*dhcpv4.DHCPv4, error) {
	mods := []dhcpv4.Modifier{
		dhcpv4.WithMessageType(mt),
		dhcpv4.WithServerIP(h.cfg.ServerIP.AsSlice()),
		dhcpv4.WithOption(dhcpv4.OptServerIdentifier(h.cfg.ServerIP.AsSlice())),
		dhcpv4.WithNetmask(net.CIDRMask(h.cfg.Subnet.Bits(), 32)),
		dhcpv4.WithOption(dhcpv4.OptIPAddressLeaseTime(h.cfg.LeaseTime)),
		// RFC 2131 §4.4.5 defaults: T1 = 0.5, T2 = 0.875 of the lease.
		dhcpv4.WithOption(dhcpv4.OptRenewTimeValue(h.cfg.LeaseTime / 2)),
		dhcpv4.WithOption(dhcpv4.OptRebindingTimeValue(h.cfg.LeaseTime * 7 / 8)),
	}
	if a.IsValid() {
		mods = append(mods, dhcpv4.WithYourIP(a.AsSlice()))
	}
	if h.cfg.Router.IsValid() {
		mods = append(mods, dhcpv4.WithOption(dhcpv4.OptRouter(h.cfg.Router.AsSlice())))
	}
	if len(h.cfg.DNS) > 0 {
		mods = append(mods, dhcpv4.WithOption(dhcpv4.OptDNS(ips(h.cfg.DNS)...)))
	}
	if len(h.cfg.NTP) > 0 {
		mods = append(mods, dhcpv4.WithOption(dhcpv4.OptNTPServers(ips(h.cfg.NTP)...)))
	}
	if h.cfg.Domain != "" {
		mods = append(mods, dhcpv4.WithOption(dhcpv4.OptDomainName(h.cfg.Domain)))
	}
	resp, err := dhcpv4.NewReplyFromRequest(req, mods...)
	if err != nil {
		return nil, err
	}
	if b, ok := decideBoot(c, h.cfg.Boot); ok {
		resp.BootFileName = b.File
		resp.UpdateOption(dhcpv4.OptClassIdentifier(b.VendorClass))
		if b.VendorClass == "PXEClient" {
			// As in proxy mode: without option 43, a PXEClient offer asks
			// for boot server discovery on port 4011, which OVMF does and
			// then gives up ("PXE-E16: No valid offer received").
			resp.UpdateOption(dhcpv4.OptGeneric(dhcpv4.OptionVendorSpecificInformation, []byte{6, 1, 8, 255}))
		}
	}
	return resp, nil
}

// nak builds a DHCPNAK (RFC 2131 §4.3.2, Table 3): no address, no lease time.
func (h *Handler) nak(req *dhcpv4.DHCPv4, msg string) (*dhcpv4.DHCPv4, error) {
	return dhcpv4.NewReplyFromRequest(req,
		dhcpv4.WithMessageType(dhcpv4.MessageTypeNak),
		dhcpv4.WithOption(dhcpv4.OptServerIdentifier(h.cfg.ServerIP.AsSlice())),
		dhcpv4.WithOption(dhcpv4.OptMessage(msg)),
	)
}

// replyAddr chooses where a reply goes (RFC 2131 §4.1):
// through the relay when giaddr is set; to ciaddr when the client has an
// address (and for port-4011 requests, back to the source); broadcast
// otherwise — a client without an address cannot be reached by unicast
// without injecting an ARP entry, and §4.1 allows the broadcast.
func replyAddr(req, resp *dhcpv4.DHCPv4, r Request) *net.UDPAddr {
	if gi := addr(req.GatewayIPAddr); gi.IsValid() {
		return &net.UDPAddr{IP: gi.AsSlice(), Port: dhcpv4.ServerPort}
	}
	if resp.MessageType() == dhcpv4.MessageTypeNak {
		return &net.UDPAddr{IP: net.IPv4bcast, Port: dhcpv4.ClientPort}
	}
	if ci := addr(req.ClientIPAddr); ci.IsValid() {
		port := dhcpv4.ClientPort
		if r.Port == 4011 && r.Peer != nil {
			port = r.Peer.Port
		}
		return &net.UDPAddr{IP: ci.AsSlice(), Port: port}
	}
	return &net.UDPAddr{IP: net.IPv4bcast, Port: dhcpv4.ClientPort}
}

// addr converts a packet's IP field; zero or absent becomes the invalid Addr.
func addr(ip net.IP) netip.Addr {
	a, ok := netip.AddrFromSlice(ip)
	if !ok {
		return netip.Addr{}
	}
	a = a.Unmap()
	if a.IsUnspecified() {
		return netip.Addr{}
	}
	return a
}

func ips(as []netip.Addr) []net.IP {
	out := make([]net.IP, len(as))
	for i, a := range as {
		out[i] = a.AsSlice()
	}
	return out
}

// lazy is a log value computed only if the line is written.
type lazy func() string

func (f lazy) LogValue() slog.Value { return slog.StringValue(f()) }
