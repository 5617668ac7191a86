// Package httpboot is the controller's HTTP boot server: the iPXE script of
// each node, the iPXE programs for UEFI HTTP boot, the node image files, the
// Prometheus metrics and a health check.
//
// # Routes
//
//	GET /boot.ipxe?mac=<MAC>          the node's iPXE script (Scripts backend)
//	GET /ipxe/<file>                  boot programs, from the same files.Table as TFTP
//	GET /images/<version>/<file>      image files (kernel, initramfs, rootfs.squashfs)
//	GET /metrics                      Prometheus metrics (Options.Gatherer)
//	GET /healthz                      "ok"
//
// HEAD is answered wherever GET is. Files are served with http.ServeContent,
// which answers Range requests (RFC 9110 §14) and conditional requests
// (If-None-Match, If-Modified-Since → 304, If-Range; RFC 9110 §13).
//
// # ETags
//
// A file's ETag is strong (RFC 9110 §8.8.3) and made of its size and
// modification time in nanoseconds, "<size hex>-<mtime hex>". Image files
// are written once under a version directory and never rewritten in place,
// so size and mtime identify the bytes; hashing would mean reading a
// rootfs of hundreds of megabytes per request or keeping a cache.
//
// # Refusals
//
// A request path with a ".." element is refused with 400 before routing (the
// standard mux would redirect it instead); a name files.Table refuses (a
// symbolic link out of the directory, a control character) gets 403; a
// missing file 404. Under /images/ a version the image store would not accept
// (controller/images.CheckVersion: its own entries — imports in progress in
// .import-*, .state.json, .lock — start with a dot) gets 404. A missing or malformed mac gets 400 and a node the
// backend does not know 404, each with a plain-text message saying what is
// expected.
package httpboot

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"corral.io/corral/controller/boot/files"
	"corral.io/corral/controller/boot/ipxe"
	"corral.io/corral/controller/images"
)

// ErrUnknownNode is returned (wrapped) by a Scripts backend that has no
// script for a MAC address; the client gets 404.
var ErrUnknownNode = errors.New("unknown node")

// Scripts is the backend that knows what each node boots.
type Scripts interface {
	// Script returns the boot script for the machine whose boot interface
	// has the MAC address mac, or an error wrapping ErrUnknownNode.
	Script(ctx context.Context, mac net.HardwareAddr) (ipxe.Script, error)
}

// DefaultShutdownTimeout is how long Run waits for requests in flight (an
// image download, say) before closing their connections.
const DefaultShutdownTimeout = 10 * time.Second

// Options configure the handler and the server.
type Options struct {
	// Addr is the TCP address to listen on, e.g. ":8080". New only.
	Addr string
	// Scripts renders /boot.ipxe. Required.
	Scripts Scripts
	// Files serves /ipxe/<file>: the boot programs, the same table as
	// TFTP's. Nil answers 404.
	Files *files.Table
	// Images serves /images/<version>/<file> from the images directory.
	// Nil answers 404.
	Images *files.Table
	// Gatherer is exposed at /metrics. Nil answers 404.
	Gatherer prometheus.Gatherer
	// Registerer receives this server's metrics. Nil registers them nowhere.
	Registerer prometheus.Registerer
	// Logger receives one line per request (keys method, path, route,
	// code, bytes, peer, duration, and mac where the request names one).
	// Nil discards logs.
	Logger *slog.Logger
	// ShutdownTimeout bounds the graceful shutdown in Run. Zero means
	// DefaultShutdownTimeout.
	ShutdownTimeout time.Duration
}

// handler serves the routes.
type handler struct {
	scripts  Scripts
	files    *files.Table
	images   *files.Table
	log      *slog.Logger
	mux      *http.ServeMux
	requests *prometheus.CounterVec
	bytes    *prometheus.CounterVec
}

// NewHandler returns the HTTP handler, with no socket: tests and other
// servers can mount it. It registers the metrics with o.Registerer.
func NewHandler(o Options) (http.Handler, error) {
	if o.Scripts == nil {
		return nil, errors.New("httpboot: Options.Scripts is required")
	}
	h := &handler{
		scripts: o.Scripts,
		files:   o.Files,
		images:  o.Images,
		log:     o.Logger,
		mux:     http.NewServeMux(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "corral_http_requests_total",
			Help: "HTTP requests by route and status code.",
		}, []string{"route", "code"}),
		bytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "corral_http_response_bytes_total",
			Help: "Bytes of HTTP response bodies served, by route.",
		}, []string{"route"}),
	}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	reg := o.Registerer
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	for _, c := range []prometheus.Collector{h.requests, h.bytes} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("httpboot: register metrics: %w", err)
		}
	}
	h.mux.HandleFunc("GET /boot.ipxe", h.script)
	h.mux.HandleFunc("GET /ipxe/{file...}", h.bootFile)
	h.mux.HandleFunc("GET /images/{version}/{file...}", h.image)
	h.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
	})
	if o.Gatherer != nil {
		h.mux.Handle("GET /metrics", promhttp.HandlerFor(o.Gatherer, promhttp.HandlerOpts{}))
	}
	return h, nil
}

// requestInfo carries what a route learns about the request to the log line.
type requestInfo struct {
	mac string
}

type infoKey struct{}

// ServeHTTP refuses ".." paths, routes, then counts and logs the request.
func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	rec := &recorder{ResponseWriter: w, code: http.StatusOK}
	info := &requestInfo{}
	r = r.WithContext(context.WithValue(r.Context(), infoKey{}, info))

	route := "other"
	if hasDotDot(r.URL.Path) {
		route = "refused"
		plain(rec, http.StatusBadRequest, "path %q has a \"..\" element; request files by their name under /ipxe/ or /images/<version>/", r.URL.Path)
	} else {
		h.mux.ServeHTTP(rec, r)
		if r.Pattern != "" {
			_, route, _ = strings.Cut(r.Pattern, " ") // "GET /images/{version}/{file...}" → the path pattern
		}
	}

	code := strconv.Itoa(rec.code)
	h.requests.WithLabelValues(route, code).Inc()
	h.bytes.WithLabelValues(route).Add(float64(rec.bytes.Load()))
	attrs := []any{
		"method", r.Method, "path", r.URL.Path, "route", route, "code", rec.code,
		"bytes", rec.bytes.Load(), "peer", r.RemoteAddr, "duration", time.Since(start),
	}
	if info.mac != "" {
		attrs = append(attrs, "mac", info.mac)
	}
	level := slog.LevelInfo
	if rec.code >= 500 {
		level = slog.LevelError
	} else if rec.code >= 400 {
		level = slog.LevelWarn
	}
	h.log.Log(r.Context(), level, "http request", attrs...)
}

// hasDotDot reports whether a URL path has a ".." element (with either
// separator, as files.Clean reads backslashes as separators too).
func hasDotDot(p string) bool {
	for _, e := range strings.FieldsFunc(p, func(r rune) bool { return r == '/' || r == '\\' }) {
		if e == ".." {
			return true
		}
	}
	return false
}

// script serves GET /boot.ipxe?mac=<MAC>.
func (h *handler) script(w http.ResponseWriter, r *http.Request) {
	const want = "want /boot.ipxe?mac=<MAC address of the boot interface, e.g. 52:54:00:12:34:56>"
	q := r.URL.Query().Get("mac")
	if q == "" {
		plain(w, http.StatusBadRequest, "missing mac parameter: %s", want)
		return
	}
	mac, err := net.ParseMAC(q)
	if err != nil || len(mac) != 6 {
		plain(w, http.StatusBadRequest, "malformed mac %q: %s", q, want)
		return
	}
	info(r).mac = mac.String()
	s, err := h.scripts.Script(r.Context(), mac)
	switch {
	case errors.Is(err, ErrUnknownNode):
		plain(w, http.StatusNotFound, "unknown node %s: the controller has no boot script for this MAC address", mac)
		return
	case err != nil:
		h.log.Error("look up boot script", "mac", mac.String(), "err", err)
		plain(w, http.StatusInternalServerError, "could not look up the boot script for %s; see the controller log", mac)
		return
	}
	var buf bytes.Buffer
	if err := s.Render(&buf); err != nil {
		h.log.Error("render boot script", "mac", mac.String(), "err", err)
		plain(w, http.StatusInternalServerError, "could not render the boot script for %s; see the controller log", mac)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(buf.Len()))
	w.Header().Set("Cache-Control", "no-store") // per node, and changes with the node's state
	if r.Method == http.MethodHead {
		return
	}
	_, _ = w.Write(buf.Bytes())
}

// bootFile serves GET /ipxe/<file> from the boot files table.
func (h *handler) bootFile(w http.ResponseWriter, r *http.Request) {
	h.serve(w, r, h.files, r.PathValue("file"))
}

// image serves GET /images/<version>/<file> from the images table. Only a
// version the image store accepts is served: its own entries in the images
// directory (imports in progress in .import-*, .state.json, .lock) start with
// a dot and are not images.
func (h *handler) image(w http.ResponseWriter, r *http.Request) {
	v := r.PathValue("version")
	if err := images.CheckVersion(v); err != nil {
		plain(w, http.StatusNotFound, "no image %q: %v", v, err)
		return
	}
	h.serve(w, r, h.images, v+"/"+r.PathValue("file"))
}

// serve opens name in t and answers with http.ServeContent.
func (h *handler) serve(w http.ResponseWriter, r *http.Request, t *files.Table, name string) {
	if t == nil {
		http.NotFound(w, r)
		return
	}
	f, err := t.Open(name)
	switch {
	case errors.Is(err, files.ErrRefused):
		h.log.Warn("http file refused", "path", r.URL.Path, "peer", r.RemoteAddr, "err", err)
		plain(w, http.StatusForbidden, "file name %q refused", name)
		return
	case errors.Is(err, files.ErrNotFound):
		plain(w, http.StatusNotFound, "no file %q", name)
		return
	case err != nil:
		h.log.Error("open file", "path", r.URL.Path, "err", err)
		plain(w, http.StatusInternalServerError, "could not open %q; see the controller log", name)
		return
	}
	defer f.Close()
	w.Header().Set("ETag", ETag(f.Size, f.ModTime))
	http.ServeContent(w, r, f.Name, f.ModTime, f)
}

// ETag is the strong entity tag of a file of this size and modification
// time (see the package documentation).
func ETag(size int64, mtime time.Time) string {
	return fmt.Sprintf(`"%x-%x"`, size, mtime.UnixNano())
}

// plain writes a plain-text error message.
func plain(w http.ResponseWriter, code int, format string, args ...any) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	_, _ = fmt.Fprintf(w, format+"\n", args...)
}

func info(r *http.Request) *requestInfo {
	if i, ok := r.Context().Value(infoKey{}).(*requestInfo); ok {
		return i
	}
	return &requestInfo{}
}

// recorder notes the status code and counts body bytes.
type recorder struct {
	http.ResponseWriter
	code        int
	wroteHeader bool
	bytes       atomic.Int64
}

func (r *recorder) WriteHeader(code int) {
	if !r.wroteHeader {
		r.code, r.wroteHeader = code, true
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(p []byte) (int, error) {
	r.wroteHeader = true
	n, err := r.ResponseWriter.Write(p)
	r.bytes.Add(int64(n))
	return n, err
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// Server is the HTTP boot service. Create it with New, then call Run once.
type Server struct {
	ln      net.Listener
	srv     *http.Server
	log     *slog.Logger
	timeout time.Duration
}

// New builds the handler and binds the listener, so a bad address fails
// here, before any goroutine starts.
func New(o Options) (*Server, error) {
	h, err := NewHandler(o)
	if err != nil {
		return nil, err
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ln, err := net.Listen("tcp", o.Addr)
	if err != nil {
		return nil, fmt.Errorf("httpboot: listen on %q: %w", o.Addr, err)
	}
	timeout := o.ShutdownTimeout
	if timeout <= 0 {
		timeout = DefaultShutdownTimeout
	}
	return &Server{
		ln:  ln,
		log: log,
		srv: &http.Server{
			Handler:           h,
			ReadHeaderTimeout: 10 * time.Second,
			IdleTimeout:       2 * time.Minute,
			// No WriteTimeout: a rootfs download over a slow link may
			// take minutes.
			ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		},
		timeout: timeout,
	}, nil
}

// Addr is the address the server listens on (useful with port 0).
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// Run serves until ctx is done, then shuts down gracefully: it stops
// accepting, lets requests in flight finish for up to the shutdown timeout,
// then closes what remains.
func (s *Server) Run(ctx context.Context) error {
	errc := make(chan error, 1)
	go func() { errc <- s.srv.Serve(s.ln) }()
	s.log.Info("http server listening", "addr", s.Addr().String())
	select {
	case err := <-errc:
		return fmt.Errorf("httpboot: serve on %s: %w", s.Addr(), err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.timeout)
	defer cancel()
	err := s.srv.Shutdown(sctx)
	if err != nil {
		_ = s.srv.Close()
		err = fmt.Errorf("httpboot: graceful shutdown on %s: %w", s.Addr(), err)
	}
	if serr := <-errc; serr != nil && !errors.Is(serr, http.ErrServerClosed) {
		err = errors.Join(err, fmt.Errorf("httpboot: serve on %s: %w", s.Addr(), serr))
	}
	s.log.Info("http server stopped", "addr", s.Addr().String())
	return err
}
