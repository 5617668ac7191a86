package dhcp

import (
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"corral.io/corral/internal/testutil"
)

// lockedBuf collects log output from concurrent writers.
type lockedBuf struct{ testutil.LockedBuffer }

func (w *lockedBuf) lines(level string) []string {
	var out []string
	for _, l := range strings.Split(w.String(), "\n") {
		if strings.Contains(l, "level="+level) {
			out = append(out, l)
		}
	}
	return out
}

// Issue 12.6: an exhausted pool used to log one warning per DISCOVER.
func TestPoolExhaustionWarningsAreRateLimited(t *testing.T) {
	h, _ := authoritative(t) // a pool of 100 addresses
	var buf lockedBuf
	h.log = slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelWarn}))
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	h.warns.now = func() time.Time { mu.Lock(); defer mu.Unlock(); return now }

	const n = 2000
	offers := 0
	for i := range n {
		mac := net.HardwareAddr{0x02, 0, 0, 0, byte(i >> 8), byte(i)}
		if r := handle(h, discover(t, mac), 67); r != nil {
			offers++
		}
	}
	if offers != 100 {
		t.Fatalf("%d offers from a pool of 100", offers)
	}
	warns := buf.lines("WARN")
	if len(warns) != 1 {
		t.Fatalf("%d warning lines for %d DISCOVERs to an exhausted pool, want 1 per %s:\n%s", len(warns), n-offers, warnEvery, strings.Join(warns[:min(5, len(warns))], "\n"))
	}
	if !strings.Contains(warns[0], "pool exhausted") {
		t.Fatalf("the warning does not say why: %s", warns[0])
	}

	// After the interval the next one is logged, with the count of the rest.
	mu.Lock()
	now = now.Add(warnEvery)
	mu.Unlock()
	handle(h, discover(t, net.HardwareAddr{0x02, 0, 0, 1, 0, 0}), 67)
	warns = buf.lines("WARN")
	if len(warns) != 2 {
		t.Fatalf("%d warning lines after the interval, want 2", len(warns))
	}
	if want := "suppressed=1899"; !strings.Contains(warns[1], want) {
		t.Fatalf("second warning lacks %q: %s", want, warns[1])
	}
}
