package dhcp

import (
	"context"
	"io"
	"log/slog"
	"net"
	"testing"

	"github.com/insomniacslk/dhcp/dhcpv4"
)

// BenchmarkDORA measures one DISCOVER-OFFER, REQUEST-ACK exchange through
// Handler.Packet (parse, lease, fsync, encode) with a warn-level logger, as
// the controller runs under make bench-dhcp. Each iteration is a new client;
// parallel goroutines share fsyncs as concurrent clients do.
// go test -run - -bench DORA -cpuprofile cpu.out ./controller/boot/dhcp/
func BenchmarkDORA(b *testing.B) {
	h, _ := authoritative(b)
	h.log = slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelWarn}))
	peer := &net.UDPAddr{IP: net.IPv4(10, 10, 0, 2), Port: 67}
	b.ReportAllocs()
	b.SetParallelism(32) // many clients in flight, as under perfdhcp (64 on 2 CPUs: fewer than the 100 addresses)
	var next uint32
	var mu = make(chan struct{}, 1)
	mu <- struct{}{}
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			<-mu
			i := next
			next++
			mu <- struct{}{}
			mac := net.HardwareAddr{0x02, 0, byte(i >> 24), byte(i >> 16), byte(i >> 8), byte(i)}
			d, _ := dhcpv4.NewDiscovery(mac, dhcpv4.WithGatewayIP(peer.IP))
			off := h.Packet(context.Background(), d.ToBytes(), 67, peer)
			if off == nil {
				b.Fatal("no offer")
			}
			r, _ := dhcpv4.NewRequestFromOffer(off.Msg)
			ack := h.Packet(context.Background(), r.ToBytes(), 67, peer)
			if ack == nil || ack.Msg.MessageType() != dhcpv4.MessageTypeAck {
				b.Fatal("no ack")
			}
			// Release so the 100-address test pool never runs out.
			rel, _ := dhcpv4.NewReleaseFromACK(ack.Msg)
			h.Packet(context.Background(), rel.ToBytes(), 67, peer)
		}
	})
}
