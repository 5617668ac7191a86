package dhcp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4/server4"
	"golang.org/x/sync/errgroup"
)

// workers handle transactions concurrently (a lease commit waits for an
// fsync shared by the whole batch); maxInFlight bounds the packets queued for
// them, beyond which the socket buffer absorbs bursts and the kernel drops the
// excess.
const (
	workers       = 256
	maxInFlight   = 1024
	maxQueueDelay = 500 * time.Millisecond
)

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
	// A fixed pool of workers: their stacks grow once and are reused, where a
	// goroutine per packet would grow a fresh stack for every transaction.
	type packet struct {
		buf  *[1500]byte
		n    int
		peer *net.UDPAddr
		at   time.Time
	}
	queue := make(chan packet, maxInFlight)
	bufs := sync.Pool{New: func() any { return new([1500]byte) }}
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for p := range queue {
				// Under overload, a request that waited too long is
				// dropped unanswered: its client has retransmitted or
				// given up (RFC 2131 §4.1: retransmission after 4 s),
				// and answering it would only delay fresh requests.
				if time.Since(p.at) > maxQueueDelay || ctx.Err() != nil {
					s.h.metrics.dropped("stale")
					bufs.Put(p.buf)
					continue
				}
				// The parsed request and the reply may share option bytes
				// with the buffer: it goes back to the pool only once the
				// reply is on the wire.
				if reply := s.h.Packet(ctx, p.buf[:p.n], l.port, p.peer); reply != nil {
					if _, err := l.conn.WriteTo(reply.Msg.ToBytes(), reply.To); err != nil && ctx.Err() == nil {
						s.log.Warn("send DHCP reply", "mac", reply.Msg.ClientHWAddr.String(), "xid", reply.Msg.TransactionID.String(), "to", reply.To.String(), "err", err)
					}
				}
				bufs.Put(p.buf)
			}
		}()
	}
	defer func() {
		close(queue)
		wg.Wait()
	}()
	for {
		buf := bufs.Get().(*[1500]byte)
		n, peer, err := l.conn.ReadFromUDP(buf[:])
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return nil
			}
			return fmt.Errorf("read DHCP packet: %w", err)
		}
		queue <- packet{buf: buf, n: n, peer: peer, at: time.Now()}
	}
}
