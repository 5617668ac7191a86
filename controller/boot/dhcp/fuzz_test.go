package dhcp

import (
	"context"
	"io"
	"log/slog"
	"net"
	"testing"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/iana"
)

// FuzzPacket feeds arbitrary datagrams through parsing and both handlers: no
// input may panic, and every reply must serialise to a valid packet.
func FuzzPacket(f *testing.F) {
	seed := func(m *dhcpv4.DHCPv4, err error) {
		if err != nil {
			f.Fatal(err)
		}
		b := m.ToBytes()
		f.Add(b, uint16(67))
		f.Add(b[:len(b)/2], uint16(67)) // truncated
		f.Add(b, uint16(4011))
	}
	seed(dhcpv4.NewDiscovery(clientA, pxe(iana.INTEL_X86PC)...))
	seed(dhcpv4.NewDiscovery(clientA, dhcpv4.WithUserClass("iPXE", false)))
	seed(dhcpv4.New(dhcpv4.WithHwAddr(clientA), dhcpv4.WithMessageType(dhcpv4.MessageTypeRequest),
		dhcpv4.WithOption(dhcpv4.OptRequestedIPAddress(net.ParseIP("10.10.0.150")))))
	seed(dhcpv4.NewInform(clientA, net.ParseIP("10.10.0.7")))
	f.Add([]byte{}, uint16(67))
	f.Add([]byte{1, 1, 6, 0}, uint16(67))

	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	auth, _ := authoritative(f)
	auth.log = quiet
	prox := proxy(f)
	prox.log = quiet
	f.Fuzz(func(t *testing.T, b []byte, port uint16) {
		peer := &net.UDPAddr{IP: net.IPv4zero, Port: 68}
		for _, h := range []*Handler{auth, prox} {
			r := h.Packet(context.Background(), b, int(port), peer)
			if r == nil {
				continue
			}
			if r.To == nil {
				t.Fatal("reply without destination")
			}
			if _, err := dhcpv4.FromBytes(r.Msg.ToBytes()); err != nil {
				t.Fatalf("reply does not parse back: %v", err)
			}
		}
	})
}
