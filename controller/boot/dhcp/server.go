package dhcp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"

	"github.com/insomniacslk/dhcp/dhcpv4/server4"
	"golang.org/x/sync/errgroup"
)

// maxInFlight bounds concurrent transactions; beyond it the socket buffer
// absorbs bursts and the kernel drops the excess.
const maxInFlight = 512

// Server owns the DHCP sockets and feeds the Handler.
type Server struct {
	h     *Handler
	log   *slog.Logger
	conns []listener
}

type listener struct {
	conn *net.UDPConn
	port int
}

// Listen binds the DHCP ports on iface (SO_BINDTODEVICE): port (67) always,
// and 4011 too when proxy4011 is set. Binding happens here so a busy port or a
// missing interface is reported before anything starts.
func Listen(iface string, port int, proxy4011 bool, h *Handler, log *slog.Logger) (*Server, error) {
	s := &Server{h: h, log: log}
	ports := []int{port}
	if proxy4011 {
		ports = append(ports, 4011)
	}
	for _, p := range ports {
		c, err := server4.NewIPv4UDPConn(iface, &net.UDPAddr{Port: p})
		if err != nil {
			s.close()
			return nil, fmt.Errorf("listen for DHCP on %s port %d: %w (is the interface up, and are you root?)", iface, p, err)
		}
		_ = c.SetReadBuffer(4 << 20)
		s.conns = append(s.conns, listener{conn: c, port: p})
	}
	return s, nil
}

func (s *Server) close() {
	for _, l := range s.conns {
		l.conn.Close()
	}
}

// Run serves until ctx is done, then waits for transactions in flight.
func (s *Server) Run(ctx context.Context) error {
	g, ctx := errgroup.WithContext(ctx)
	for _, l := range s.conns {
		g.Go(func() error { return s.serve(ctx, l) })
	}
	<-ctx.Done()
	s.close()
	return g.Wait()
}

func (s *Server) serve(ctx context.Context, l listener) error {
	s.log.Info("dhcp listening", "addr", l.conn.LocalAddr().String())
	sem := make(chan struct{}, maxInFlight)
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		buf := make([]byte, 1500)
		n, peer, err := l.conn.ReadFromUDP(buf)
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return nil
			}
			return fmt.Errorf("read DHCP packet: %w", err)
		}
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			reply := s.h.Packet(ctx, buf[:n], l.port, peer)
			if reply == nil {
				return
			}
			if _, err := l.conn.WriteTo(reply.Msg.ToBytes(), reply.To); err != nil {
				s.log.Warn("send DHCP reply", "mac", reply.Msg.ClientHWAddr.String(), "xid", reply.Msg.TransactionID.String(), "to", reply.To.String(), "err", err)
			}
		}()
	}
}
