package netup

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"

	"corral.io/corral/internal/backoff"
)

// fakeNetlink is a kernel with a fixed set of links whose carrier comes up
// after carrierAfter polls.
type fakeNetlink struct {
	mu           sync.Mutex
	links        []Link
	carrierAfter int
	polls        int
	up           []string
	applied      map[string]Plan
}

func (f *fakeNetlink) Links() ([]Link, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.polls++
	out := append([]Link(nil), f.links...)
	for i := range out {
		out[i].Carrier = out[i].Carrier || (f.carrierAfter >= 0 && f.polls > f.carrierAfter)
	}
	return out, nil
}

func (f *fakeNetlink) SetUp(l Link) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.up = append(f.up, l.Name)
	return nil
}

func (f *fakeNetlink) Apply(l Link, p Plan) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.applied == nil {
		f.applied = map[string]Plan{}
	}
	f.applied[l.Name] = p
	return nil
}

// fakeDHCP answers on the interfaces in acks and never on the others.
type fakeDHCP struct {
	acks  map[string]*dhcpv4.DHCPv4
	mu    sync.Mutex
	tries map[string]int
}

func (f *fakeDHCP) dial(l Link, _ time.Duration) (DHCPClient, error) {
	return &fakeClient{f: f, name: l.Name}, nil
}

type fakeClient struct {
	f    *fakeDHCP
	name string
}

func (c *fakeClient) Close() error { return nil }
func (c *fakeClient) Lease(ctx context.Context) (*dhcpv4.DHCPv4, error) {
	c.f.mu.Lock()
	if c.f.tries == nil {
		c.f.tries = map[string]int{}
	}
	c.f.tries[c.name]++
	c.f.mu.Unlock()
	if a := c.f.acks[c.name]; a != nil {
		return a, nil
	}
	<-ctx.Done()
	return nil, errors.New("timed out waiting for an offer")
}

func mac(s string) net.HardwareAddr {
	m, err := net.ParseMAC(s)
	if err != nil {
		panic(err)
	}
	return m
}

func testConfig(t *testing.T, nl Netlink, d *fakeDHCP) Config {
	return Config{
		Netlink:        nl,
		Dial:           d.dial,
		ResolvConf:     filepath.Join(t.TempDir(), "etc", "resolv.conf"),
		CarrierTimeout: 2 * time.Second,
		AttemptTimeout: 20 * time.Millisecond,
		Attempts:       3,
		Backoff:        backoff.Backoff{Initial: time.Millisecond, Max: time.Millisecond},
		Logger:         slog.New(slog.NewTextHandler(tWriter{t}, nil)),
		poll:           time.Millisecond,
	}
}

type tWriter struct{ t *testing.T }

func (w tWriter) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(b)))
	return len(b), nil
}

var machine = []Link{
	{Name: "lo", Index: 1, Kind: "device", Loopback: true},
	{Name: "eno1", Index: 2, Kind: "device", MAC: mac("52:54:00:00:00:01")},
	{Name: "eno2", Index: 3, Kind: "device", MAC: mac("52:54:00:00:00:02")},
	{Name: "br0", Index: 4, Kind: "bridge", MAC: mac("52:54:00:00:00:03")},
}

func TestRunWithoutBootIFFirstLeaseWins(t *testing.T) {
	nl := &fakeNetlink{links: machine, carrierAfter: 2}
	d := &fakeDHCP{acks: map[string]*dhcpv4.DHCPv4{"eno2": ack(t, "10.10.0.50", dhcpv4.OptSubnetMask(net.CIDRMask(24, 32)))}}
	res, err := Up(context.Background(), testConfig(t, nl, d))
	if err != nil {
		t.Fatal(err)
	}
	if res.Iface != "eno2" || res.Addr().String() != "10.10.0.50/24" {
		t.Errorf("got %s %s, want eno2 10.10.0.50/24", res.Iface, res.Addr())
	}
	if got := strings.Join(nl.up, ","); got != "eno1,eno2" {
		t.Errorf("set up %s, want only the physical NICs eno1,eno2", got)
	}
	if _, ok := nl.applied["eno1"]; ok {
		t.Error("the interface without a lease was configured")
	}
}

func TestRunBootIFUsesOnlyThatInterface(t *testing.T) {
	nl := &fakeNetlink{links: machine}
	d := &fakeDHCP{acks: map[string]*dhcpv4.DHCPv4{
		"eno1": ack(t, "10.10.0.51", dhcpv4.OptSubnetMask(net.CIDRMask(24, 32))),
		"eno2": ack(t, "10.10.0.52", dhcpv4.OptSubnetMask(net.CIDRMask(24, 32))),
	}}
	cfg := testConfig(t, nl, d)
	cfg.BootMAC = mac("52:54:00:00:00:02")
	res, err := Up(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if res.Iface != "eno2" || d.tries["eno1"] != 0 {
		t.Errorf("leased on %s, tried eno1 %d times; want eno2 only", res.Iface, d.tries["eno1"])
	}
}

func TestRunErrorsSayWhatWasWaitedFor(t *testing.T) {
	for _, tc := range []struct {
		name    string
		boot    string
		carrier int
		want    []string
	}{
		{"unknown BOOTIF names the MAC and the interfaces seen", "52:54:00:99:99:99", 0,
			[]string{"52:54:00:99:99:99", "BOOTIF", "eno1 (52:54:00:00:00:01, device)", "br0"}},
		{"no carrier names the interface and the timeout", "52:54:00:00:00:01", -1,
			[]string{"no carrier on eno1", "cable"}},
		{"no DHCP server: bounded attempts", "52:54:00:00:00:01", 0,
			[]string{"no DHCP lease on eno1 after 3 attempts", "DHCPDISCOVER", "waiting for an offer"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			nl := &fakeNetlink{links: machine, carrierAfter: tc.carrier}
			d := &fakeDHCP{}
			cfg := testConfig(t, nl, d)
			cfg.CarrierTimeout = 30 * time.Millisecond
			cfg.BootMAC = mac(tc.boot)
			_, err := Up(context.Background(), cfg)
			if err == nil {
				t.Fatal("succeeded")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
			if n := d.tries["eno1"]; n > cfg.Attempts {
				t.Errorf("%d DHCP exchanges, want at most %d", n, cfg.Attempts)
			}
		})
	}
}
