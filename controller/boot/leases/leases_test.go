package leases

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func mac(i int) net.HardwareAddr { return net.HardwareAddr{0x52, 0x54, 0, 0, byte(i >> 8), byte(i)} }

func open(t *testing.T, path string, pool Pool, c *clock) *Store {
	t.Helper()
	s, err := Open(path, pool, WithClock(c.now))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

var (
	ctx   = context.Background()
	small = Pool{Start: netip.MustParseAddr("10.0.0.10"), End: netip.MustParseAddr("10.0.0.12")}
)

func newStore(t *testing.T, pool Pool) (*Store, *clock, string) {
	c := &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	path := filepath.Join(t.TempDir(), "leases.db")
	return open(t, path, pool, c), c, path
}

func TestOfferIsStableForAClientAndDistinctAcrossClients(t *testing.T) {
	s, _, _ := newStore(t, small)
	a1, err := s.Offer(mac(1), netip.Addr{})
	if err != nil {
		t.Fatal(err)
	}
	again, _ := s.Offer(mac(1), netip.Addr{})
	if again != a1 {
		t.Errorf("second offer to the same MAC = %s, want %s", again, a1)
	}
	a2, _ := s.Offer(mac(2), netip.Addr{})
	if a2 == a1 {
		t.Errorf("two clients offered the same address %s", a1)
	}
}

func TestOfferHonoursRequestedAddressWhenFree(t *testing.T) {
	s, _, _ := newStore(t, small)
	want := netip.MustParseAddr("10.0.0.12")
	if got, _ := s.Offer(mac(1), want); got != want {
		t.Errorf("offer = %s, want requested %s", got, want)
	}
	if got, _ := s.Offer(mac(2), want); got == want {
		t.Errorf("address offered to mac 1 was offered to mac 2 as well")
	}
	if got, _ := s.Offer(mac(3), netip.MustParseAddr("192.168.1.1")); !got.IsValid() || got == want {
		t.Errorf("a request outside the pool must get a pool address, got %s", got)
	}
}

func TestPoolExhaustedThenFreedByExpiry(t *testing.T) {
	s, c, _ := newStore(t, small)
	for i := 1; i <= 3; i++ {
		a, err := s.Offer(mac(i), netip.Addr{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Commit(ctx, mac(i), a, "", time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Offer(mac(4), netip.Addr{}); !errors.Is(err, ErrPoolExhausted) {
		t.Fatalf("offer on a full pool: err = %v, want ErrPoolExhausted", err)
	}
	c.add(time.Hour + time.Second)
	a, err := s.Offer(mac(4), netip.Addr{})
	if err != nil {
		t.Fatalf("after the leases expired the pool must have room: %v", err)
	}
	if _, err := s.Commit(ctx, mac(4), a, "", time.Hour); err != nil {
		t.Fatal(err)
	}
	if got := s.InUse(); got != 1 {
		t.Errorf("InUse = %d, want 1 (three expired, one new)", got)
	}
}

func TestCommitRefusesAnotherClientsAddress(t *testing.T) {
	s, _, _ := newStore(t, small)
	a, _ := s.Offer(mac(1), netip.Addr{})
	if _, err := s.Commit(ctx, mac(1), a, "", time.Hour); err != nil {
		t.Fatal(err)
	}
	for name, addr := range map[string]netip.Addr{
		"leased to another": a,
		"outside the pool":  netip.MustParseAddr("10.0.0.200"),
		"not IPv4":          netip.MustParseAddr("::1"),
		"invalid":           {},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := s.Commit(ctx, mac(2), addr, "", time.Hour); !errors.Is(err, ErrUnavailable) {
				t.Errorf("err = %v, want ErrUnavailable", err)
			}
		})
	}
}

func TestReservations(t *testing.T) {
	res := netip.MustParseAddr("10.0.0.50") // outside the dynamic range
	pool := small
	pool.Reservations = []Reservation{{MAC: mac(9), IP: res, Hostname: "n9"}, {MAC: mac(8), IP: netip.MustParseAddr("10.0.0.10")}}
	s, _, _ := newStore(t, pool)
	if got, _ := s.Offer(mac(9), netip.Addr{}); got != res {
		t.Errorf("reserved client offered %s, want %s", got, res)
	}
	l, err := s.Commit(ctx, mac(9), res, "", time.Hour)
	if err != nil || l.Hostname != "n9" {
		t.Errorf("commit reservation: lease %+v, err %v; want hostname n9", l, err)
	}
	if _, err := s.Commit(ctx, mac(9), netip.MustParseAddr("10.0.0.11"), "", time.Hour); !errors.Is(err, ErrUnavailable) {
		t.Errorf("reserved client taking another address: err = %v, want ErrUnavailable", err)
	}
	for i := 1; i <= 2; i++ {
		if got, _ := s.Offer(mac(i), netip.Addr{}); got == netip.MustParseAddr("10.0.0.10") {
			t.Errorf("address reserved for mac 8 offered to mac %d", i)
		}
	}
}

func TestAcknowledgedLeaseSurvivesRestart(t *testing.T) {
	s, c, path := newStore(t, small)
	a, _ := s.Offer(mac(1), netip.Addr{})
	if _, err := s.Commit(ctx, mac(1), a, "w1", time.Hour); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s2 := open(t, path, small, c)
	l, ok := s2.Lookup(mac(1))
	if !ok || l.IP != a || l.Hostname != "w1" {
		t.Fatalf("after reopen Lookup = %+v, %v; want %s w1", l, ok, a)
	}
	if got, _ := s2.Offer(mac(2), a); got == a {
		t.Errorf("after reopen, %s was offered to another client", a)
	}
	if got, _ := s2.Offer(mac(1), netip.Addr{}); got != a {
		t.Errorf("after reopen the client was offered %s, want its lease %s", got, a)
	}
}

func TestSecondOpenIsRefusedWithAClearError(t *testing.T) {
	_, _, path := newStore(t, small)
	_, err := Open(path, small)
	if err == nil || !strings.Contains(err.Error(), "another controller") {
		t.Errorf("second open: err = %v, want a message naming another controller", err)
	}
}

func TestDeclineAndRelease(t *testing.T) {
	s, c, path := newStore(t, small)
	a, _ := s.Offer(mac(1), netip.Addr{})
	s.Decline(mac(2), a) // not its address: ignored
	if got, _ := s.Offer(mac(1), netip.Addr{}); got != a {
		t.Fatalf("a decline by another client must not move the offer")
	}
	s.Decline(mac(1), a)
	for i := 2; i <= 4; i++ {
		if got, _ := s.Offer(mac(i), netip.Addr{}); got == a {
			t.Fatalf("declined address %s offered again", a)
		}
	}
	c.add(declineHold + time.Second)

	b, _ := s.Offer(mac(5), netip.Addr{})
	_, _ = s.Commit(ctx, mac(5), b, "", time.Hour)
	if err := s.Release(ctx, mac(5), b); err != nil {
		t.Fatal(err)
	}
	if _, ok := s.Owner(b); ok {
		t.Errorf("released address still owned")
	}
	s.Close()
	s2 := open(t, path, small, c)
	if _, ok := s2.Owner(b); ok {
		t.Errorf("released address owned again after restart")
	}
}

// Many clients committing at once must never share an address.
func TestConcurrentClientsNeverShareAnAddress(t *testing.T) {
	pool := Pool{Start: netip.MustParseAddr("10.1.0.1"), End: netip.MustParseAddr("10.1.0.200")}
	s, _, _ := newStore(t, pool)
	var mu sync.Mutex
	owner := map[netip.Addr]int{}
	var wg sync.WaitGroup
	errs := make(chan error, 400)
	for i := 0; i < 400; i++ { // twice the pool: half must fail cleanly
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			a, err := s.Offer(mac(i), netip.Addr{})
			if err != nil {
				return
			}
			l, err := s.Commit(ctx, mac(i), a, "", time.Hour)
			if err != nil {
				return
			}
			mu.Lock()
			defer mu.Unlock()
			if j, dup := owner[l.IP]; dup {
				errs <- fmt.Errorf("%s acknowledged to clients %d and %d", l.IP, j, i)
			}
			owner[l.IP] = i
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if len(owner) != 200 {
		t.Errorf("%d addresses bound, want the whole pool of 200", len(owner))
	}
}
