package server

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"corral.io/corral/api/client"
	"corral.io/corral/api/v1alpha1"
	"corral.io/corral/controller/bootlog"
	"corral.io/corral/controller/enroll"
)

// serveStoppable runs a over HTTPS and returns its address, its CA and a
// stop function that cancels Serve and returns its result. conns receives
// every connection state change the server sees.
func serveStoppable(t *testing.T, a *API) (addr string, caPEM []byte, conns <-chan http.ConnState, stop func() error) {
	t.Helper()
	ca, err := enroll.LoadOrCreateCA(filepath.Join(t.TempDir(), "pki"), []string{"127.0.0.1"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	states := make(chan http.ConnState, 64)
	a.onConnState = func(_ net.Conn, s http.ConnState) {
		select {
		case states <- s:
		default:
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Serve(ctx, ln, ca.Serving) }()
	var stopped bool
	var result error
	stop = func() error {
		if !stopped {
			cancel()
			result, stopped = <-done, true
		}
		return result
	}
	t.Cleanup(func() { _ = stop() })
	return ln.Addr().String(), ca.PEM, states, stop
}

// waitState waits for the server to report state s for some connection.
func waitState(t *testing.T, states <-chan http.ConnState, s http.ConnState) {
	t.Helper()
	for got := range states {
		if got == s {
			return
		}
	}
}

// TestStopAnswersAFollowAtOnce: a follow read waiting for records (up to
// 25 s) answers, empty and with its cursor, as soon as the API stops, and the
// stop does not wait for it.
func TestStopAnswersAFollowAtOnce(t *testing.T) {
	a, _, _, _ := logAPI(t, bootlog.Options{})
	following := make(chan struct{})
	a.onRequest = func(r *http.Request) {
		if r.URL.Query().Get("wait") != "" {
			close(following)
		}
	}
	addr, caPEM, _, stop := serveStoppable(t, a)
	admin, err := client.New("https://"+addr, client.Trust{CAPEM: caPEM}, "admin")
	if err != nil {
		t.Fatal(err)
	}
	first, err := admin.NodeLogs(t.Context(), "n1", client.LogQuery{})
	if err != nil {
		t.Fatal(err)
	}
	type answer struct {
		next  uint64
		items int
		err   error
	}
	got := make(chan answer, 1)
	go func() {
		l, err := admin.NodeLogs(context.Background(), "n1", client.LogQuery{After: first.Next, Wait: MaxLogWait})
		got <- answer{l.Next, len(l.Items), err}
	}()
	// The server handles the follow request: it will answer it, whenever
	// the handler reaches its wait.
	<-following
	select {
	case ans := <-got:
		t.Fatalf("the follow answered before the stop: %+v", ans)
	default:
	}
	if err := stop(); err != nil {
		t.Errorf("Serve: %v, want nil (the follow should not hold the stop)", err)
	}
	ans := <-got
	if ans.err != nil || ans.items != 0 || ans.next != first.Next {
		t.Errorf("follow at stop: %d items, cursor %d, err %v; want an empty answer with cursor %d", ans.items, ans.next, ans.err, first.Next)
	}
}

// TestStopClosesConnectionsWithoutARequest: connections that never sent a
// request (a bare TCP connection, a finished TLS handshake, a keep-alive
// connection between requests) do not hold the stop. http.Server alone
// waits for the first two until they are 5 s old.
func TestStopClosesConnectionsWithoutARequest(t *testing.T) {
	for _, tc := range []struct {
		name string
		// open connects; it returns once the server holds the connection.
		open func(t *testing.T, addr string, pool *x509.CertPool, states <-chan http.ConnState) net.Conn
	}{
		{"tcp only", func(t *testing.T, addr string, _ *x509.CertPool, states <-chan http.ConnState) net.Conn {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			waitState(t, states, http.StateNew)
			return c
		}},
		{"tls handshake done", func(t *testing.T, addr string, pool *x509.CertPool, states <-chan http.ConnState) net.Conn {
			c, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: pool, NextProtos: []string{"http/1.1"}})
			if err != nil {
				t.Fatal(err)
			}
			return c
		}},
		{"idle keep-alive", func(t *testing.T, addr string, pool *x509.CertPool, states <-chan http.ConnState) net.Conn {
			c, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: pool, NextProtos: []string{"http/1.1"}})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := c.Write([]byte("GET " + v1alpha1.PathNodes + " HTTP/1.1\r\nHost: x\r\n\r\n")); err != nil {
				t.Fatal(err)
			}
			waitState(t, states, http.StateIdle)
			return c
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, _ := newAPI(t)
			addr, caPEM, states, stop := serveStoppable(t, a)
			pool := x509.NewCertPool()
			pool.AppendCertsFromPEM(caPEM)
			c := tc.open(t, addr, pool, states)
			defer c.Close()
			start := time.Now()
			if err := stop(); err != nil {
				t.Errorf("Serve: %v", err)
			}
			// Not a timing test: a few milliseconds are expected, and
			// without closing these connections itself the server takes
			// more than 5 s.
			if d := time.Since(start); d > 4*time.Second {
				t.Errorf("stop took %s with an open connection that sent no request", d)
			}
			// The server closed the connection: reading ends.
			_ = c.SetReadDeadline(time.Now().Add(time.Minute))
			buf := make([]byte, 4096)
			for {
				if _, err := c.Read(buf); err != nil {
					if ne, ok := err.(net.Error); ok && ne.Timeout() {
						t.Errorf("the connection is still open after the stop")
					}
					break
				}
			}
		})
	}
}
