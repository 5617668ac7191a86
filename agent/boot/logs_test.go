package boot

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"corral.io/corral/agent/logship"
	"corral.io/corral/controller/bootlog"
	ctlenroll "corral.io/corral/controller/enroll"
	"corral.io/corral/controller/registry"
	"corral.io/corral/controller/server/servertest"
	"corral.io/corral/internal/testutil"
)

// TestRunShipsItsLogToTheController runs the agent once against the real
// API: what it printed on the console is what the controller kept, in order.
func TestRunShipsItsLogToTheController(t *testing.T) {
	ctl := servertest.Start(t, servertest.Options{Policy: ctlenroll.Policy{Mode: ctlenroll.Auto}})
	var console testutil.LockedBuffer
	err := runAgent(t.Context(), runFlags{once: true, root: dump, api: ctl.URL, ca: ctl.CAFingerprint},
		runDeps{pid: 4242, clock: fastClock{}}, &console)
	t.Logf("agent log:\n%s", console.String())
	if err != nil {
		t.Fatalf("run --once: %v", err)
	}
	l, err := ctl.BootLogs.Read(nodeIDOfDump(t), bootlog.Query{Boot: "current"})
	if err != nil {
		t.Fatal(err)
	}
	var shipped []string
	for _, e := range l.Items {
		shipped = append(shipped, e.Msg)
	}
	// Every console line, from the first (before registration) to the
	// last (after the configuration), reached the controller.
	var printed []string
	for _, line := range strings.Split(strings.TrimSpace(console.String()), "\n") {
		_, rest, ok := strings.Cut(line, " msg=")
		if !ok || strings.Contains(line, "svc=logship") {
			continue
		}
		msg, _, _ := strings.Cut(rest, " ")
		if strings.HasPrefix(rest, `"`) {
			q := rest[:strings.Index(rest[1:], `"`)+2]
			if msg, err = strconv.Unquote(q); err != nil {
				t.Fatal(err)
			}
		}
		printed = append(printed, msg)
	}
	if len(printed) < 4 || len(shipped) != len(printed) {
		t.Fatalf("printed %d lines, shipped %d: %q", len(printed), len(shipped), shipped)
	}
	if diff := cmp.Diff(printed, shipped); diff != "" {
		t.Errorf("console vs controller (-printed +shipped):\n%s", diff)
	}
	if shipped[0] != "enrolling" {
		t.Errorf("first shipped line %q: want the lines before registration too", shipped[0])
	}
	if l.Boots[0].ID == "" || len(l.Boots) != 1 {
		t.Errorf("boots %+v", l.Boots)
	}
}

// TestStage1RegistersSoItsLogShips registers as stage 1 does right after
// the network is up, against the real API: what stage 1 logs before and
// after — a root filesystem that fails its sha256, say — reaches the
// controller while the node is still pending, before any enrolment loop.
func TestStage1RegistersSoItsLogShips(t *testing.T) {
	ctl := servertest.Start(t, servertest.Options{Policy: ctlenroll.Policy{Mode: ctlenroll.Manual}})
	var console testutil.LockedBuffer
	ship := logship.New(logship.Options{Console: slog.NewTextHandler(&console, nil)})
	ctx, cancel := context.WithCancel(t.Context())
	shipped := make(chan struct{})
	go func() { defer close(shipped); _ = ship.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-shipped })
	log := slog.New(ship.Handler(slog.NewTextHandler(&console, nil)))

	log.Info("network up")
	registerForLogs(ctx, runFlags{root: dump, api: ctl.URL, ca: ctl.CAFingerprint}, ship, log)
	log.Error("root filesystem download failed: retrying", "err", "sha256 mismatch: got 00 after 4 bytes")

	id := nodeIDOfDump(t)
	want := []string{"network up", "registered from the initramfs: this boot's log goes to the controller", "root filesystem download failed: retrying"}
	var got []string
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		l, err := ctl.BootLogs.Read(id, bootlog.Query{Boot: "current"})
		if err != nil {
			continue // nothing stored yet
		}
		got = got[:0]
		for _, e := range l.Items {
			if !slices.Contains(want, e.Msg) {
				continue // the inventory's own lines
			}
			got = append(got, e.Msg)
		}
		if len(got) == len(want) {
			break
		}
	}
	t.Logf("console:\n%s", console.String())
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("stage 1 lines on the controller (-want +got):\n%s", diff)
	}
	n, err := ctl.Registry.Get(id)
	if err != nil || n.State != registry.Pending {
		t.Errorf("node %s: %+v, %v; want it registered and pending", id, n, err)
	}
}

// Without a controller on the kernel command line stage 1 says why its log
// stays on the console, and returns.
func TestStage1RegisterWithoutController(t *testing.T) {
	var console testutil.LockedBuffer
	cmdline := filepath.Join(t.TempDir(), "cmdline")
	if err := os.WriteFile(cmdline, []byte("console=ttyS0 quiet\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	registerForLogs(t.Context(), runFlags{root: dump, cmdline: cmdline}, logship.New(logship.Options{}), slog.New(slog.NewTextHandler(&console, nil)))
	if !strings.Contains(console.String(), "corral.api= or corral.ca=") {
		t.Errorf("log:\n%s", console.String())
	}
}
