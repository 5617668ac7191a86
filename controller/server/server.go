// Package server is the controller's HTTPS API: the agent endpoints
// (register, credential, config, heartbeat, logs) and the operator endpoints
// (nodes, events, logs, approve, reject, assign, labels, decommission,
// forget).
// docs/api.md has the table of endpoints.
//
// Handlers decode strictly (size limit, unknown fields refused), check the
// caller, and make one registry transaction per change, so a refused request
// writes nothing.
package server

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"corral.io/corral/api/v1alpha1"
	"corral.io/corral/controller/bootlog"
	"corral.io/corral/controller/enroll"
	"corral.io/corral/controller/registry"
)

// MaxBody is the largest request body accepted (an inventory of a large
// server is tens of kilobytes).
const MaxBody = 1 << 20

// Profiles resolves what a node is told (implemented with package profiles).
type Profiles interface {
	// Resolve returns the node's profile name and configuration.
	Resolve(n registry.Node) (profile string, cfg v1alpha1.NodeConfig, err error)
	// Has reports whether a profile of that name exists.
	Has(name string) bool
	// Explain says which profile the node gets and why the others do not.
	Explain(n registry.Node) (v1alpha1.ProfileExplanation, error)
}

// Options configure the API.
type Options struct {
	Registry *registry.Store
	// BootLogs keeps what agents log while they boot; nil answers the
	// log endpoints with 503.
	BootLogs *bootlog.Store
	Policy   enroll.Policy
	Profiles Profiles
	// AdminHash is the hash of the operators' bearer token.
	AdminHash string
	// Heartbeat is how often nodes report; LostAfter without one marks a
	// ready node lost.
	Heartbeat, LostAfter time.Duration
	Logger               *slog.Logger
	Registerer           prometheus.Registerer
	// K3sJoin returns the k3s join data (server URL, agent token) put into
	// the configuration of an approved node, and of no one else; nil, or a
	// nil result, sends none (no k3s server runs).
	K3sJoin func() *v1alpha1.K3sJoin
	// KubeReadiness says the registry was told RequireKubeReady (the
	// controller reconciles Kubernetes): the operator's Node view then
	// carries the KubeReady condition.
	KubeReadiness bool
	// RequestLimits bound the registration requests waiting for an
	// operator; RegisterRate the unauthenticated registrations
	// (register.go). Zero values take the defaults.
	RequestLimits registry.RequestLimits
	RegisterRate  RegisterRate
}

// API is the HTTP handler.
type API struct {
	o   Options
	log *slog.Logger
	mux *http.ServeMux
	req *prometheus.HistogramVec
	// onConnState, if set, sees every connection state change, and
	// onRequest every request the server handles (tests).
	onConnState func(net.Conn, http.ConnState)
	onRequest   func(*http.Request)
	limits      *registerLimits
}

// New returns the API handler.
func New(o Options) *API {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Heartbeat == 0 {
		o.Heartbeat = 15 * time.Second
	}
	if o.LostAfter == 0 {
		o.LostAfter = 6 * o.Heartbeat
	}
	if o.RequestLimits == (registry.RequestLimits{}) {
		o.RequestLimits = registry.DefaultRequestLimits
	}
	a := &API{o: o, log: o.Logger, mux: http.NewServeMux(), limits: newRegisterLimits(o.RegisterRate)}
	a.req = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "corral_api_request_duration_seconds",
		Help:    "API requests by route and status code.",
		Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1},
	}, []string{"route", "code"})
	if o.Registerer != nil {
		o.Registerer.MustRegister(a.req)
	}
	a.route("POST "+v1alpha1.PathRegister, a.register)
	a.route("POST "+v1alpha1.PathCredential, a.credential)
	a.route("GET "+v1alpha1.PathConfig, a.nodeAuth(a.config))
	a.route("POST "+v1alpha1.PathHeartbeat, a.nodeAuth(a.heartbeat))
	a.route("GET "+v1alpha1.PathNodes, a.admin(a.listNodes))
	a.route("GET "+v1alpha1.PathNode, a.admin(a.getNode))
	a.route("DELETE "+v1alpha1.PathNode, a.admin(a.forgetWithLogs))
	a.route("GET "+v1alpha1.PathNodeEvents, a.admin(a.events))
	a.route("GET "+v1alpha1.PathNodeExplain, a.admin(a.explain))
	a.route("POST "+v1alpha1.PathNodeAction, a.admin(a.action))
	a.route("POST "+v1alpha1.PathLogs, a.postLogs)
	a.route("GET "+v1alpha1.PathNodeLogs, a.admin(a.nodeLogs))
	return a
}

// apiError is an answer with a status code and a message for a person.
type apiError struct {
	code int
	msg  string
}

func (e *apiError) Error() string { return e.msg }

func fail(code int, format string, args ...any) error {
	return &apiError{code: code, msg: fmt.Sprintf(format, args...)}
}

type handlerFunc func(w http.ResponseWriter, r *http.Request) (any, error)

// route wraps a handler: JSON answer, errors as v1alpha1.Error, metrics, logs.
func (a *API) route(pattern string, h handlerFunc) {
	routeName := pattern
	a.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		r.Body = http.MaxBytesReader(w, r.Body, MaxBody)
		out, err := h(w, r)
		code := http.StatusOK
		if err != nil {
			var ae *apiError
			var mbe *http.MaxBytesError
			switch {
			case errors.As(err, &ae):
				code = ae.code
			case errors.As(err, &mbe):
				code, err = http.StatusRequestEntityTooLarge, fmt.Errorf("request body is larger than %d bytes", MaxBody)
			case errors.Is(err, registry.ErrNotFound):
				code = http.StatusNotFound
			case errors.Is(err, registry.ErrTransition):
				code = http.StatusConflict
			case errors.Is(err, registry.ErrRefused):
				code = http.StatusForbidden
			case errors.Is(err, registry.ErrNoRequest):
				code = http.StatusConflict
			case errors.Is(err, registry.ErrTooManyRequests):
				code = http.StatusTooManyRequests
				w.Header().Set("Retry-After", "60")
			default:
				code = http.StatusInternalServerError
				a.log.Error("api request failed", "route", routeName, "err", err)
				err = errors.New("internal error; see the controller log")
			}
			out = v1alpha1.Error{APIVersion: v1alpha1.Version, Kind: v1alpha1.KindError, Code: code, Message: err.Error()}
		} else if s, ok := out.(status); ok {
			code, out = s.code, s.body
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		_ = json.NewEncoder(w).Encode(out)
		a.req.WithLabelValues(routeName, fmt.Sprint(code)).Observe(time.Since(start).Seconds())
		if code >= 400 {
			a.log.Info("api request refused", "route", routeName, "code", code, "peer", r.RemoteAddr, "msg", err.Error())
		}
	})
}

// status is a 2xx answer other than 200.
type status struct {
	code int
	body any
}

// ServeHTTP implements http.Handler.
func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if a.onRequest != nil {
		a.onRequest(r)
	}
	a.mux.ServeHTTP(w, r)
}

// decode reads one JSON document strictly into v.
func decode(r *http.Request, v any) error {
	if ct := r.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(ct, "application/json") {
		return fail(http.StatusUnsupportedMediaType, "Content-Type is %q, want application/json", ct)
	}
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return err
		}
		return fail(http.StatusBadRequest, "malformed JSON body: %v", err)
	}
	if dec.More() {
		return fail(http.StatusBadRequest, "malformed JSON body: more than one document")
	}
	if _, err := dec.Token(); err != io.EOF {
		return fail(http.StatusBadRequest, "malformed JSON body: trailing data")
	}
	return nil
}

func bearer(r *http.Request) string {
	h := r.Header.Get("Authorization")
	if t, ok := strings.CutPrefix(h, "Bearer "); ok {
		return strings.TrimSpace(t)
	}
	return ""
}

// admin requires the operators' token.
func (a *API) admin(h handlerFunc) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) (any, error) {
		if !enroll.Matches(a.o.AdminHash, bearer(r)) {
			return nil, fail(http.StatusUnauthorized, "missing or wrong admin token: use the token from the client configuration the controller wrote (<stateDir>/client.yaml)")
		}
		return h(w, r)
	}
}

type nodeKey struct{}

// nodeAuth requires a node credential and passes the node it belongs to.
func (a *API) nodeAuth(h handlerFunc) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) (any, error) {
		id, secret, ok := enroll.SplitNodeToken(bearer(r))
		if !ok {
			return nil, fail(http.StatusUnauthorized, "missing or malformed node credential: register and collect a credential first")
		}
		n, err := a.o.Registry.Get(id)
		if err != nil || !enroll.Matches(n.CredentialHash, secret) {
			return nil, fail(http.StatusUnauthorized, "node credential not valid: register again")
		}
		if n.State == registry.Decommissioned {
			return nil, fail(http.StatusForbidden, "node %s is decommissioned", id)
		}
		return h(w, r.WithContext(context.WithValue(r.Context(), nodeKey{}, n)))
	}
}

// nodeIDPattern bounds what a node id may look like (see docs/inventory.md).
var nodeIDPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$`)

// shutdownGrace is how long a stopping API lets requests in progress finish
// before it closes their connections (a peer that vanished mid-request, a
// powered-off VM, would otherwise hold the stop until its read timeout).
const shutdownGrace = 3 * time.Second

// Serve runs the API on ln with TLS until ctx is done, and marks nodes lost
// when their heartbeats stop.
//
// When ctx is done it stops promptly: waiting requests (a follow read of a
// boot log) answer at once, connections that have not sent a request (a
// client's spare connection, a TLS handshake in progress) and idle
// keep-alive connections are closed, and requests in progress get
// shutdownGrace to finish.
func (a *API) Serve(ctx context.Context, ln net.Listener, cert tls.Certificate) error {
	base, stopRequests := context.WithCancel(context.Background())
	defer stopRequests()
	conns := &connTracker{fresh: map[net.Conn]struct{}{}, hook: a.onConnState}
	srv := &http.Server{
		Handler:           a,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		TLSConfig:         &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12},
		ErrorLog:          slog.NewLogLogger(a.log.Handler(), slog.LevelDebug),
		BaseContext:       func(net.Listener) context.Context { return base },
		ConnState:         conns.track,
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.ServeTLS(ln, "", "") }()
	a.log.Info("api listening", "addr", ln.Addr().String())
	select {
	case err := <-errc:
		return fmt.Errorf("api: %w", err)
	case <-ctx.Done():
	}
	stopRequests()
	// http.Server.Shutdown counts a connection that has not sent a request
	// as idle only after 5 s: close those now.
	conns.stop()
	sctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		a.log.Warn("api: requests still in progress when stopping; closing their connections", "grace", shutdownGrace.String(), "err", err)
		return srv.Close()
	}
	return nil
}

// connTracker remembers the connections that have not sent a request yet,
// so a stopping server can close them.
type connTracker struct {
	mu      sync.Mutex
	fresh   map[net.Conn]struct{}
	stopped bool
	hook    func(net.Conn, http.ConnState) // tests
}

func (t *connTracker) track(c net.Conn, s http.ConnState) {
	t.mu.Lock()
	switch {
	case s == http.StateNew && t.stopped:
		closeNow(c)
	case s == http.StateNew:
		t.fresh[c] = struct{}{}
	default:
		delete(t.fresh, c)
	}
	t.mu.Unlock()
	if t.hook != nil {
		t.hook(c, s)
	}
}

// stop closes the connections that have not sent a request, and those that
// connect from now on.
func (t *connTracker) stop() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.stopped = true
	for c := range t.fresh {
		closeNow(c)
	}
	clear(t.fresh)
}

// closeNow closes the TCP connection under c without a TLS close alert, which
// could wait on a peer that is gone or on a handshake in progress.
func closeNow(c net.Conn) {
	if tc, ok := c.(*tls.Conn); ok {
		c = tc.NetConn()
	}
	_ = c.Close()
}
