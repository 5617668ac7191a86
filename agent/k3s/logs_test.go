package k3s

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"corral.io/corral/agent/logship"
	"corral.io/corral/api/v1alpha1"
	"corral.io/corral/internal/supervise"
	"corral.io/corral/internal/testutil"
)

// TestK3sLinesBelowWarnStayOnTheConsole runs k3s agent (a script printing
// k3s' two log formats) under the real supervisor, logging through a real
// shipper: every line reaches the console, only WARN and above of k3s'
// lines is shipped, and the supervisor's own records are shipped whatever
// their level.
func TestK3sLinesBelowWarnStayOnTheConsole(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "k3s")
	script := "#!/bin/sh\n" +
		"echo 'time=\"2026-11-22T07:00:00Z\" level=info msg=\"Starting k3s agent v1.31.6+k3s1 (fake)\"'\n" +
		"echo 'I1122 07:00:01.000000     123 kubelet.go:1] \"Starting kubelet\"'\n" +
		"echo 'time=\"2026-11-22T07:00:02Z\" level=warning msg=\"Failed to get node\"' >&2\n" +
		"echo 'E1122 07:00:03.000000     123 kubelet.go:2] \"Error syncing pod\"' >&2\n" +
		"exec sleep 3600\n"
	if err := os.WriteFile(bin, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	var console testutil.LockedBuffer
	ship := logship.New(logship.Options{BootID: func() (string, error) { return "boot-1", nil }})
	var mu sync.Mutex
	var shipped []string
	ship.SetSender(func(_ context.Context, _ string, b v1alpha1.LogBatch) error {
		mu.Lock()
		defer mu.Unlock()
		for _, r := range b.Records {
			shipped = append(shipped, fmt.Sprintf("%s %s", r.Level, r.Msg))
		}
		return nil
	})
	ship.SetToken("token")
	p := goldenParams()
	a := New(Options{
		Binary: bin, ConfigPath: filepath.Join(dir, "config.yaml"), ImagesSource: filepath.Join(dir, "none"),
		Inventory: func() *v1alpha1.Inventory {
			inv := *p.Inventory
			inv.NICs = []v1alpha1.NIC{{Name: "lo", Boot: true, Addresses: []string{"127.0.0.1/8"}}}
			return &inv
		},
		ScratchDataDir: func(v1alpha1.NodeConfig) string { return filepath.Join(dir, "data") },
		Logger:         slog.New(ship.Handler(slog.NewTextHandler(&console, nil))),
		Supervise:      supervise.Options{Ready: func(context.Context) error { return nil }, Grace: 5 * time.Second},
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	if err := a.Apply(p.Config); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "k3s' lines on the console", func() bool { return strings.Contains(console.String(), "Error syncing pod") })
	waitFor(t, "ready", a.Ready)
	// The supervisor logs "child ready" just after it marks the child ready.
	waitFor(t, "the ready line", func() bool { return strings.Contains(console.String(), "child ready") })
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run: %v", err)
	}
	if err := ship.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Starting k3s agent", "Starting kubelet", "Failed to get node", "Error syncing pod", "child started"} {
		if !strings.Contains(console.String(), want) {
			t.Errorf("console lacks %q:\n%s", want, console.String())
		}
	}
	mu.Lock()
	got := strings.Join(shipped, "\n")
	mu.Unlock()
	for _, want := range []string{"INFO k3s agent configured", "INFO child started", "INFO child ready", "level=warning msg=\"Failed to get node\"", "ERROR E1122"} {
		if !strings.Contains(got, want) {
			t.Errorf("shipped lacks %q:\n%s", want, got)
		}
	}
	for _, not := range []string{"Starting k3s agent", "Starting kubelet"} {
		if strings.Contains(got, not) {
			t.Errorf("an INFO line of k3s was shipped (%q):\n%s", not, got)
		}
	}
}
