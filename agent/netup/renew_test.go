package netup

import (
	"context"
	"errors"
	"log/slog"
	"net/netip"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"corral.io/corral/internal/testutil"

	"github.com/google/go-cmp/cmp"
	"github.com/insomniacslk/dhcp/dhcpv4"
)

func leaseAck(t *testing.T, ip string, d time.Duration) *dhcpv4.DHCPv4 {
	t.Helper()
	return ack(t, ip, dhcpv4.OptSubnetMask([]byte{255, 255, 255, 0}), dhcpv4.OptServerIdentifier([]byte{10, 0, 0, 1}),
		dhcpv4.OptIPAddressLeaseTime(d))
}

func TestLeaseTimes(t *testing.T) {
	l := Lease{ACK: leaseAck(t, "10.0.0.5", time.Hour)}
	if l.Duration() != time.Hour || l.T1() != 30*time.Minute || l.T2() != 52*time.Minute+30*time.Second {
		t.Errorf("defaults: lease %v T1 %v T2 %v; want 1h, 30m, 52m30s (RFC 2131 §4.4.5)", l.Duration(), l.T1(), l.T2())
	}
	l.ACK.UpdateOption(dhcpv4.OptRenewTimeValue(10 * time.Minute))
	l.ACK.UpdateOption(dhcpv4.OptRebindingTimeValue(20 * time.Minute))
	if l.T1() != 10*time.Minute || l.T2() != 20*time.Minute {
		t.Errorf("options 58/59: T1 %v T2 %v", l.T1(), l.T2())
	}
	// Nonsense from a server: T1 past T2, T2 past the lease.
	l.ACK.UpdateOption(dhcpv4.OptRenewTimeValue(2 * time.Hour))
	l.ACK.UpdateOption(dhcpv4.OptRebindingTimeValue(3 * time.Hour))
	if l.T1() >= l.T2() || l.T2() >= l.Duration() {
		t.Errorf("T1 %v T2 %v lease %v: want T1 < T2 < lease", l.T1(), l.T2(), l.Duration())
	}
	if s := l.Server().String(); s != "10.0.0.1" {
		t.Errorf("server %s", s)
	}
}

// A refused renewal goes to DISCOVER at once; a new address replaces the
// old one on the interface and is logged loudly.
func TestRenewNakDiscoversAndReconfigures(t *testing.T) {
	nl := &fakeNetlink{}
	var log testutil.LockedBuffer
	var calls []string
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	got := make(chan Lease, 1)
	var changes []string
	old := Lease{ACK: leaseAck(t, "10.0.0.5", time.Minute), Acquired: time.Now().Add(-31 * time.Second)} // past T1
	err := Renew(ctx, RenewConfig{
		Link: Link{Name: "eth0"}, Lease: old, Netlink: nl, MinRetry: time.Millisecond,
		ResolvConf: filepath.Join(t.TempDir(), "resolv.conf"),
		Logger:     slog.New(slog.NewTextHandler(&log, nil)),
		renew: func(ctx context.Context, l Lease, unicast bool) (*dhcpv4.DHCPv4, error) {
			calls = append(calls, "renew")
			return nil, ErrNak
		},
		discover: func(ctx context.Context) (*dhcpv4.DHCPv4, error) {
			calls = append(calls, "discover")
			return leaseAck(t, "10.0.0.9", time.Minute), nil
		},
		OnAddressChange: func(iface string, old, new netip.Prefix) {
			// The interface has the new address by now.
			changes = append(changes, iface+" "+old.String()+" -> "+new.String()+" applied "+nl.applied[iface].Addr.String())
		},
		OnLease: func(l Lease, _ Plan) { got <- l; cancel() },
	})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"eth0 10.0.0.5/24 -> 10.0.0.9/24 applied 10.0.0.9/24"}, changes); diff != "" {
		t.Errorf("OnAddressChange calls (-want +got):\n%s", diff)
	}
	n := <-got
	if n.ACK.YourIPAddr.String() != "10.0.0.9" || time.Since(n.Acquired) > 5*time.Second {
		t.Errorf("new lease %v acquired %v", n.ACK.YourIPAddr, n.Acquired)
	}
	if strings.Join(calls, ",") != "renew,discover" {
		t.Errorf("calls %q, want one renew (refused: no rebinding) then discover", calls)
	}
	if p := nl.applied["eth0"]; p.Addr.String() != "10.0.0.9/24" {
		t.Errorf("eth0 configured with %v, want 10.0.0.9/24", p.Addr)
	}
	if !strings.Contains(log.String(), "level=ERROR msg=\"DHCP: THE NODE'S ADDRESS CHANGED") {
		t.Errorf("the address change is not logged as an error:\n%s", log.String())
	}
}

// Unanswered renewals are retried until T2, then rebinding broadcasts.
func TestRenewFallsBackToRebinding(t *testing.T) {
	var mu sync.Mutex
	var unicasts, broadcasts int
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// 4 s lease: T1 2 s, T2 3.5 s; start just before T1.
	a := leaseAck(t, "10.0.0.5", 4*time.Second)
	err := Renew(ctx, RenewConfig{
		Link: Link{Name: "eth0"}, Lease: Lease{ACK: a, Acquired: time.Now().Add(-1900 * time.Millisecond)},
		Netlink: &fakeNetlink{}, MinRetry: 200 * time.Millisecond, ResolvConf: filepath.Join(t.TempDir(), "resolv.conf"),
		renew: func(ctx context.Context, l Lease, unicast bool) (*dhcpv4.DHCPv4, error) {
			mu.Lock()
			defer mu.Unlock()
			if unicast {
				unicasts++
				return nil, errors.New("no answer")
			}
			broadcasts++
			return leaseAck(t, "10.0.0.5", time.Hour), nil
		},
		discover: func(context.Context) (*dhcpv4.DHCPv4, error) {
			t.Error("discover while the lease is valid")
			return nil, errors.New("x")
		},
		OnAddressChange: func(iface string, old, new netip.Prefix) {
			t.Errorf("OnAddressChange(%s, %s, %s) for a renewal of the same address", iface, old, new)
		},
		OnLease: func(Lease, Plan) { cancel() },
	})
	if err != nil {
		t.Fatal(err)
	}
	if unicasts < 2 || broadcasts != 1 {
		t.Errorf("%d unicast renewals, %d broadcast; want several, then one", unicasts, broadcasts)
	}
}
