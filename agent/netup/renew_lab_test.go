package netup

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"
)

// ackExpiries reads the controller's log: the expiry of every DHCPACK it
// sent for ip, in order.
func (l *lab) ackExpiries(t *testing.T, ip string) []time.Time {
	t.Helper()
	b, err := os.ReadFile(l.ctlLog)
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`msg=ack .*ip=` + regexp.QuoteMeta(ip) + `\b.*expires=(\S+)`)
	var out []time.Time
	for _, m := range re.FindAllStringSubmatch(string(b), -1) {
		e, err := time.Parse(time.RFC3339, m[1])
		if err != nil {
			t.Fatalf("controller log: expires=%q: %v", m[1], err)
		}
		out = append(out, e)
	}
	return out
}

// renewInLab runs Renew in the node's namespace with the lease shifted
// back in time by ago, and returns the first new lease.
func (l *lab) renewInLab(t *testing.T, res *Result, ago time.Duration) Lease {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	got := make(chan Lease, 1)
	done := make(chan error, 1)
	cur := res.Lease
	cur.Acquired = time.Now().Add(-ago)
	go func() {
		done <- l.node.Do(func() error {
			return Renew(ctx, RenewConfig{
				Link: res.Link, Lease: cur, MinRetry: time.Second, AttemptTimeout: 2 * time.Second,
				ResolvConf: filepath.Join(t.TempDir(), "resolv.conf"),
				Logger:     slog.New(slog.NewTextHandler(tWriter{t}, nil)),
				OnLease: func(n Lease, _ Plan) {
					select {
					case got <- n:
					default:
					}
				},
			})
		})
	}()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Renew: %v", err)
		}
	}()
	select {
	case n := <-got:
		return n
	case <-ctx.Done():
		t.Fatal("no new lease within a minute")
	}
	return Lease{}
}

// TestLabRenewExtendsTheLease renews a 1 min lease of the real controller:
// at T1 unicast to the server (RENEWING), past T2 by broadcast
// (REBINDING), past the expiry with a fresh DISCOVER. Each time the
// controller commits a later expiry for the same address. The lease is
// shifted back in time so the test does not wait 30 s for T1.
func TestLabRenewExtendsTheLease(t *testing.T) {
	l := newLab(t, "nr")
	l.startControllerLease(t, "1m")
	res, err := l.netup(t, Config{BootMAC: l.mac})
	if err != nil {
		t.Fatal(err)
	}
	ip := res.Lease.ACK.YourIPAddr.String()
	if d, t1, t2 := res.Lease.Duration(), res.Lease.T1(), res.Lease.T2(); d != time.Minute || t1 != 30*time.Second || t2 != 52*time.Second {
		t.Fatalf("lease %v, T1 %v, T2 %v; want 1m, 30s, 52s (the controller's options 51, 58, 59)", d, t1, t2)
	}
	if s := res.Lease.Server().String(); s != "10.10.0.1" {
		t.Errorf("server %s, want 10.10.0.1", s)
	}
	for _, tc := range []struct {
		state string
		ago   time.Duration
	}{
		{"renewing (unicast at T1)", res.Lease.T1() - 500*time.Millisecond},
		{"rebinding (broadcast past T2)", res.Lease.T2() + 500*time.Millisecond},
		{"expired (DISCOVER)", res.Lease.Duration() + time.Second},
	} {
		time.Sleep(1100 * time.Millisecond) // the controller logs expiries to the second
		before := l.ackExpiries(t, ip)
		if len(before) == 0 {
			t.Fatalf("%s: no ack for %s in the controller's log", tc.state, ip)
		}
		n := l.renewInLab(t, res, tc.ago)
		if got := n.ACK.YourIPAddr.String(); got != ip {
			t.Errorf("%s: new lease for %s, want %s kept", tc.state, got, ip)
		}
		var after []time.Time
		for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
			if after = l.ackExpiries(t, ip); len(after) > len(before) {
				break
			}
		}
		if len(after) <= len(before) || !after[len(after)-1].After(before[len(before)-1]) {
			t.Errorf("%s: the controller's lease for %s was not extended: acks expiring %v, then %v", tc.state, ip, before, after)
		}
		if addrs, _ := l.state(t); len(addrs) != 1 || addrs[0] != res.Addr().String() {
			t.Errorf("%s: eth0 has %v, want only %s", tc.state, addrs, res.Addr())
		}
	}
}
