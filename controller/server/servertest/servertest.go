// Package servertest starts the real controller API (HTTPS with the
// controller's own CA, a real registry on disk) for tests of its clients: the
// CLI, the agent, benchmarks.
package servertest

import (
	"context"
	"log/slog"
	"net"
	"path/filepath"
	"testing"
	"time"

	"corral.io/corral/api/v1alpha1"
	"corral.io/corral/controller/bootlog"
	"corral.io/corral/controller/enroll"
	"corral.io/corral/controller/registry"
	"corral.io/corral/controller/server"
)

// Controller is a running API.
type Controller struct {
	// URL is the API base, https://127.0.0.1:<port>.
	URL string
	// CAPEM and CAFingerprint are the two ways to trust it.
	CAPEM         []byte
	CAFingerprint string
	// AdminToken authenticates operator calls.
	AdminToken string
	// Registry is the store behind the API, for seeding and checking.
	Registry *registry.Store
	// BootLogs is the boot log store behind the API.
	BootLogs *bootlog.Store
}

// Options adjust the controller; the zero value is manual approval.
type Options struct {
	// Policy defaults to manual.
	Policy enroll.Policy
	// Profiles defaults to server.Fallback.
	Profiles server.Profiles
	// Heartbeat defaults to 15 s.
	Heartbeat time.Duration
	// Logger defaults to the test log.
	Logger *slog.Logger
	// K3sJoin is passed to server.Options (nil: no k3s join data).
	K3sJoin func() *v1alpha1.K3sJoin
	// KubeReadiness makes readiness depend on Kubernetes, as a controller
	// with kube.kubeconfig does: the registry is told RequireKubeReady and
	// the API shows the KubeReady condition. Tests play the reconciler with
	// Registry.SetKubeReady.
	KubeReadiness bool
}

// Start runs the API until the test ends.
func Start(t testing.TB, o Options) *Controller {
	t.Helper()
	dir := t.TempDir()
	ca, err := enroll.LoadOrCreateCA(filepath.Join(dir, "pki"), []string{"127.0.0.1", "localhost"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	reg, err := registry.Open(filepath.Join(dir, "registry.db"))
	if err != nil {
		t.Fatal(err)
	}
	logs, err := bootlog.Open(filepath.Join(dir, "bootlogs.db"), bootlog.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if o.Policy.Mode == "" {
		o.Policy.Mode = enroll.Manual
	}
	if o.Profiles == nil {
		o.Profiles = server.Fallback{}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(testWriter{t}, nil))
	}
	admin := enroll.NewSecret()
	api := server.New(server.Options{
		Registry: reg, BootLogs: logs, Policy: o.Policy, Profiles: o.Profiles, AdminHash: enroll.Hash(admin),
		Heartbeat: o.Heartbeat, Logger: o.Logger, K3sJoin: o.K3sJoin, KubeReadiness: o.KubeReadiness,
	})
	if o.KubeReadiness {
		reg.RequireKubeReady()
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- api.Serve(ctx, ln, ca.Serving) }()
	swept := make(chan error, 1)
	go func() { swept <- api.Sweeper().Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("api: %v", err)
		}
		<-swept
		reg.Close()
		logs.Close()
	})
	return &Controller{URL: "https://" + ln.Addr().String(), CAPEM: ca.PEM, CAFingerprint: ca.Fingerprint, AdminToken: admin, Registry: reg, BootLogs: logs}
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) { w.t.Log(string(p)); return len(p), nil }
