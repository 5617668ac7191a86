package k3s

import (
	"context"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"corral.io/corral/internal/supervise"
)

// TestRealK3sServer runs the real k3s server when K3S_BINARY names one (it
// cannot be downloaded on the build machines): it must become ready, write
// its kubeconfig 0600 and the full agent token, and stop on cancel.
func TestRealK3sServer(t *testing.T) {
	bin := os.Getenv("K3S_BINARY")
	if bin == "" {
		t.Skip("K3S_BINARY is not set: the real k3s server is not tested (k3s cannot be downloaded here; set K3S_BINARY=path to k3s v1.31.6+k3s1)")
	}
	if os.Geteuid() != 0 {
		t.Skip("k3s server needs root")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	dir := filepath.Join(t.TempDir(), "k3s")
	s, err := New(Options{
		Binary: bin, Dir: dir, Advertise: netip.MustParseAddr("127.0.0.1"), Port: port,
		Logger:    slog.New(slog.NewTextHandler(testWriter{t}, nil)),
		Supervise: supervise.Options{Grace: time.Minute},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	start := time.Now()
	wctx, wcancel := context.WithTimeout(ctx, 10*time.Minute)
	defer wcancel()
	if err := s.WaitReady(wctx); err != nil {
		t.Fatalf("k3s server not ready: %v", err)
	}
	t.Logf("k3s server ready (/readyz ok) after %s", time.Since(start).Round(time.Second))
	if fi, err := os.Stat(s.Kubeconfig()); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("kubeconfig: %v %v, want mode 0600", fi, err)
	}
	if j := s.Join(); !strings.HasPrefix(j.Token, "K10") {
		t.Errorf("join token %.8s…: want the full K10 form once k3s wrote it", j.Token)
	}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
