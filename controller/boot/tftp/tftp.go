// Package tftp serves boot programs over TFTP (RFC 1350), read-only, from a
// files.Table — the same route table the HTTP server uses.
//
// Protocol behaviour (the transfer engine is github.com/pin/tftp/v3):
//
//   - Read requests only. A write request (WRQ) is logged and answered with
//     an ERROR packet saying the server is read-only (RFC 1350 §7). pin/tftp
//     always sends error code 1 on an aborted transfer, so the code is "File
//     not found" rather than 2 "Access violation"; the message says why.
//   - A name that is refused by files (traversal, symlink out of the root) is
//     logged as a warning and answered with an ERROR packet "access
//     violation"; a missing file with "file not found".
//   - Option negotiation (RFC 2347) for blksize (RFC 2348) and tsize
//     (RFC 2349) is always on: pin/tftp acknowledges a requested blksize up
//     to the MTU of the interface the request arrived on minus the IP and
//     UDP headers (RFC 2348 lets the server answer with a smaller size, and
//     a block never needs IP fragmentation), and Corral sets tsize from the
//     file's size. Other options are ignored, which RFC 2347 allows.
//   - Each transfer runs from its own UDP port (the transfer identifier,
//     RFC 1350 §4).
package tftp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"time"

	"github.com/pin/tftp/v3"
	"github.com/prometheus/client_golang/prometheus"

	"corral.io/corral/controller/boot/files"
)

// Transfer results, the values of the "result" label of
// corral_tftp_transfers_total.
const (
	ResultOK           = "ok"
	ResultNotFound     = "not_found"
	ResultRefused      = "refused"       // name refused: traversal or escaping symlink
	ResultWriteRefused = "write_refused" // write request
	ResultFailed       = "failed"        // transfer started but did not finish (timeout, client error)
	ResultError        = "error"         // server-side error opening the file
)

// Options configure a Server.
type Options struct {
	// Addr is the UDP address to listen on, e.g. ":69" or "10.0.0.1:69".
	Addr string
	// Files is the route table files are served from. Required.
	Files *files.Table
	// Logger receives one line per request, with the keys peer, file,
	// bytes and err. Nil discards logs.
	Logger *slog.Logger
	// Registerer receives the server's metrics. Nil registers them nowhere.
	Registerer prometheus.Registerer
	// Timeout is how long to wait for an acknowledgement before
	// retransmitting (RFC 1350 §2). Zero means pin/tftp's default, 5 s.
	Timeout time.Duration
}

// Server is a read-only TFTP server. Create it with New, then call Run once.
type Server struct {
	conn    *net.UDPConn
	files   *files.Table
	log     *slog.Logger
	srv     *tftp.Server
	results *prometheus.CounterVec
	bytes   prometheus.Counter
}

// Messages sent to clients in ERROR packets. They never carry server paths.
var (
	errMsgNotFound = errors.New("file not found")
	errMsgRefused  = errors.New("access violation: file name refused")
	errMsgReadOnly = errors.New("access violation: this TFTP server is read-only")
	errMsgInternal = errors.New("server error")
)

// New checks the options, registers the metrics and binds the socket, so a
// bad address fails here, before any goroutine starts.
func New(o Options) (*Server, error) {
	if o.Files == nil {
		return nil, errors.New("tftp: Options.Files is required")
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	reg := o.Registerer
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	s := &Server{
		files: o.Files,
		log:   log,
		results: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "corral_tftp_transfers_total",
			Help: "TFTP requests by result (ok, not_found, refused, write_refused, failed, error).",
		}, []string{"result"}),
		bytes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "corral_tftp_bytes_sent_total",
			Help: "Bytes of file data sent over TFTP.",
		}),
	}
	for _, r := range []string{ResultOK, ResultNotFound, ResultRefused, ResultWriteRefused, ResultFailed, ResultError} {
		s.results.WithLabelValues(r) // export every series from the start
	}
	for _, c := range []prometheus.Collector{s.results, s.bytes} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("tftp: register metrics: %w", err)
		}
	}

	addr, err := net.ResolveUDPAddr("udp", o.Addr)
	if err != nil {
		return nil, fmt.Errorf("tftp: resolve listen address %q: %w", o.Addr, err)
	}
	conn, err := net.ListenUDP("udp", addr)
	if err != nil {
		return nil, fmt.Errorf("tftp: listen on %s: %w", o.Addr, err)
	}
	s.conn = conn

	s.srv = tftp.NewServer(s.read, s.write)
	s.srv.SetHook(hook{s})
	if o.Timeout > 0 {
		s.srv.SetTimeout(o.Timeout)
	}
	return s, nil
}

// Addr is the address the server listens on (useful with port 0).
func (s *Server) Addr() net.Addr { return s.conn.LocalAddr() }

// Run serves until ctx is done, then stops accepting requests, lets running
// transfers finish (or time out) and returns.
//
// Each transfer's UDP socket is created on the goroutine that calls Run: a
// test that binds inside a network namespace must call Run there too.
func (s *Server) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		<-ctx.Done()
		s.srv.Shutdown() // closes the socket, waits for transfers
	}()
	s.log.Info("tftp server listening", "addr", s.Addr().String(), "root", s.files.Dir())
	err := s.srv.Serve(s.conn)
	cancel()
	<-stopped
	if err != nil {
		return fmt.Errorf("tftp: serve on %s: %w", s.Addr(), err)
	}
	s.log.Info("tftp server stopped", "addr", s.Addr().String())
	return nil
}

// read answers a read request (RRQ).
func (s *Server) read(name string, rf io.ReaderFrom) error {
	log := s.log.With("peer", peer(rf), "file", name)
	f, err := s.files.Open(name)
	switch {
	case errors.Is(err, files.ErrRefused):
		s.results.WithLabelValues(ResultRefused).Inc()
		log.Warn("tftp read refused", "err", err)
		return errMsgRefused
	case errors.Is(err, files.ErrNotFound):
		s.results.WithLabelValues(ResultNotFound).Inc()
		log.Info("tftp file not found", "err", err)
		return errMsgNotFound
	case err != nil:
		s.results.WithLabelValues(ResultError).Inc()
		log.Error("tftp open failed", "err", err)
		return errMsgInternal
	}
	defer f.Close()
	if ot, ok := rf.(tftp.OutgoingTransfer); ok {
		ot.SetSize(f.Size) // RFC 2349 tsize, only sent when the client asked
	}
	n, err := rf.ReadFrom(f)
	s.bytes.Add(float64(n))
	if err != nil {
		s.results.WithLabelValues(ResultFailed).Inc()
		log.Warn("tftp transfer failed", "bytes", n, "err", err)
		return fmt.Errorf("send %s: %w", f.Name, err)
	}
	s.results.WithLabelValues(ResultOK).Inc()
	log.Info("tftp transfer done", "bytes", n)
	return nil
}

// write refuses a write request (WRQ): the server is read-only.
func (s *Server) write(name string, wt io.WriterTo) error {
	s.results.WithLabelValues(ResultWriteRefused).Inc()
	s.log.Warn("tftp write refused", "peer", peer(wt), "file", name, "err", errMsgReadOnly)
	return errMsgReadOnly
}

// peer is the client's address, if the transfer knows it.
func peer(v any) string {
	if p, ok := v.(interface{ RemoteAddr() net.UDPAddr }); ok {
		a := p.RemoteAddr()
		return a.String()
	}
	return ""
}

// hook logs what the read and write handlers cannot see: packets to the
// listening port that are not a request pin/tftp could parse.
type hook struct{ s *Server }

func (hook) OnSuccess(tftp.TransferStats) {}

func (h hook) OnFailure(st tftp.TransferStats, err error) {
	if st.Filename != "" {
		return // a transfer's own failure, already logged by read or write
	}
	h.s.log.Debug("tftp packet dropped", "peer", st.RemoteAddr.String(), "err", err)
}
