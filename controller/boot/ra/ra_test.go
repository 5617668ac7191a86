package ra

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv6"

	"corral.io/corral/internal/testnet"
)

func TestAdvertisementConfiguresNothing(t *testing.T) {
	ra := Advertisement()
	if len(ra) != 16 {
		t.Fatalf("a Router Advertisement without options is 16 octets (RFC 4861 §4.2), got %d", len(ra))
	}
	if ra[0] != 134 || ra[1] != 0 {
		t.Errorf("type/code %d/%d, want 134/0", ra[0], ra[1])
	}
	if ra[5]&0xc0 != 0 {
		t.Errorf("M or O flag set (%#x): hosts would ask DHCPv6", ra[5])
	}
	if ra[6] != 0 || ra[7] != 0 {
		t.Errorf("router lifetime %d, want 0: the controller is not a default router", int(ra[6])<<8|int(ra[7]))
	}
}

func TestIsSolicitation(t *testing.T) {
	rs := []byte{133, 0, 0, 0, 0, 0, 0, 0}
	for _, tc := range []struct {
		name string
		msg  []byte
		hops int
		want bool
	}{
		{"router solicitation", rs, 255, true},
		{"with a source link-layer option", append(rs, 1, 1, 0x52, 0x54, 0, 1, 2, 3), 255, true},
		{"forwarded by a router (hop limit below 255)", rs, 254, false},
		{"another type", []byte{135, 0, 0, 0, 0, 0, 0, 0}, 255, false},
		{"code not 0", []byte{133, 1, 0, 0, 0, 0, 0, 0}, 255, false},
		{"too short", rs[:7], 255, false},
	} {
		if got := IsSolicitation(tc.msg, tc.hops); got != tc.want {
			t.Errorf("%s: IsSolicitation = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func FuzzIsSolicitation(f *testing.F) {
	f.Add([]byte{133, 0, 0, 0, 0, 0, 0, 0}, 255)
	f.Fuzz(func(t *testing.T, msg []byte, hops int) {
		if IsSolicitation(msg, hops) && (len(msg) < 8 || hops != 255) {
			t.Fatalf("accepted %x with hop limit %d", msg, hops)
		}
	})
}

// TestRealClientSeesTheAdvertisement runs the sender in one namespace and
// ndisc6's rdisc6 — a real router-discovery client, which sends a Router
// Solicitation and prints the advertisements it gets — in another.
func TestRealClientSeesTheAdvertisement(t *testing.T) {
	testnet.RequireRoot(t)
	testnet.RequireCommands(t, "rdisc6")
	srv := testnet.New(t, "ra-srv")
	cli := testnet.New(t, "ra-cli")
	testnet.Veth(t, srv, "prov0", "10.88.0.1/24", cli, "eth0", "10.88.0.2/24")

	// Interval longer than the test: what rdisc6 gets is the answer to
	// its solicitation.
	serveIn(t, srv, &Sender{Interface: "prov0", Interval: time.Hour})

	// rdisc6 -1: stop at the first advertisement; -w 3000 ms per try;
	// retried while the client's own link-local address is tentative.
	var out []byte
	var err error
	for attempt := 0; attempt < 5; attempt++ {
		cctx, ccancel := context.WithTimeout(context.Background(), 20*time.Second)
		out, err = cli.Command(cctx, "rdisc6", "-1", "-w", "3000", "-r", "2", "eth0").CombinedOutput()
		ccancel()
		if err == nil {
			break
		}
		time.Sleep(time.Second)
	}
	if err != nil {
		t.Fatalf("rdisc6 got no advertisement: %v\n%s", err, out)
	}
	text := string(out)
	for _, want := range []string{"Router lifetime           :            0 (0x00000000) seconds", "Stateful address conf.    :           No", "Stateful other conf.      :           No"} {
		if !strings.Contains(text, want) {
			t.Errorf("rdisc6 output lacks %q:\n%s", want, text)
		}
	}
	if strings.Contains(text, "Prefix") {
		t.Errorf("the advertisement carries a prefix; it must configure nothing:\n%s", text)
	}
}

// serveIn runs s.serve in ns, once its interface has a link-local address,
// until the test ends.
func serveIn(t *testing.T, ns *testnet.NS, s *Sender) {
	t.Helper()
	var ifi *net.Interface
	var pc *ipv6.PacketConn
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := ns.Do(func() error {
			var err error
			if ifi, err = net.InterfaceByName(s.Interface); err != nil {
				return err
			}
			pc, err = listen(ifi)
			return err
		})
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no IPv6 link-local address on %s after 10 s: %v", s.Interface, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.serve(ctx, ifi, pc) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
}

// TestUnsolicitedAdvertisementsArrive listens in the client's namespace
// with a raw ICMPv6 socket, sending no solicitation, for the advertisements
// the sender sends every Interval. Four within two seconds cannot be the
// start one and answers to the client kernel's own solicitations (at most
// one per MinDelayBetweenRAs): they are periodic.
func TestUnsolicitedAdvertisementsArrive(t *testing.T) {
	testnet.RequireRoot(t)
	srv := testnet.New(t, "ra-srv")
	cli := testnet.New(t, "ra-cli")
	testnet.Veth(t, srv, "prov0", "10.88.0.1/24", cli, "eth0", "10.88.0.2/24")

	var pc *ipv6.PacketConn
	if err := cli.Do(func() error {
		c, err := icmp.ListenPacket("ip6:ipv6-icmp", "::")
		if err != nil {
			return err
		}
		pc = c.IPv6PacketConn()
		var f ipv6.ICMPFilter
		f.SetAll(true)
		f.Accept(ipv6.ICMPTypeRouterAdvertisement)
		return errors.Join(pc.SetICMPFilter(&f), pc.SetControlMessage(ipv6.FlagHopLimit, true))
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	const interval = 200 * time.Millisecond
	serveIn(t, srv, &Sender{Interface: "prov0", Interval: interval})

	// The first one starts the count: the sender may wait for its
	// link-local address to leave duplicate address detection.
	if err := pc.SetReadDeadline(time.Now().Add(15 * time.Second)); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 1500)
	var first time.Time
	got := 0
	for got < 4 {
		n, cm, src, err := pc.ReadFrom(buf)
		if err != nil {
			t.Fatalf("%d advertisements received, then: %v", got, err)
		}
		if n < 16 || buf[0] != byte(ipv6.ICMPTypeRouterAdvertisement) {
			continue
		}
		if cm == nil || cm.HopLimit != 255 {
			t.Errorf("advertisement from %v with control message %v: want hop limit 255 (RFC 4861 §6.1.2)", src, cm)
		}
		if buf[6] != 0 || buf[7] != 0 {
			t.Errorf("advertisement with router lifetime %d", int(buf[6])<<8|int(buf[7]))
		}
		if got == 0 {
			first = time.Now()
			if err := pc.SetReadDeadline(first.Add(10 * interval)); err != nil {
				t.Fatal(err)
			}
		}
		got++
	}
	t.Logf("4 advertisements in %v", time.Since(first).Round(time.Millisecond))
}

// TestCloseSolicitationsShareOneAdvertisement calls answer as the serve
// loop does for each solicitation, with the send counted: solicitations
// within MinDelayBetweenRAs of the last advertisement get one, sent once
// that delay has passed.
func TestCloseSolicitationsShareOneAdvertisement(t *testing.T) {
	s := &Sender{}
	sent := make(chan time.Time, 10)
	send := func(why string) {
		if why != "solicited" {
			t.Errorf("sent as %q", why)
		}
		now := time.Now()
		s.mu.Lock()
		s.lastRA = now // as serve's send does
		s.mu.Unlock()
		sent <- now
	}
	ctx := t.Context()

	// The first solicitation is answered at once.
	start := time.Now()
	s.answer(ctx, send)
	if at := <-sent; at.Sub(start) > time.Second {
		t.Errorf("first answer after %v, want at once", at.Sub(start))
	}
	// The ones that follow share one advertisement, no earlier than
	// MinDelayBetweenRAs after the first: answer returns at once for the
	// later ones without starting anything, so the send that arrived is
	// the only one there can be.
	s.mu.Lock()
	last := s.lastRA
	s.mu.Unlock()
	for range 5 {
		s.answer(ctx, send)
	}
	at := <-sent
	if at.Sub(last) < MinDelayBetweenRAs {
		t.Errorf("shared answer %v after the last advertisement, want at least %v", at.Sub(last), MinDelayBetweenRAs)
	}
	select {
	case <-sent:
		t.Error("more than one advertisement for solicitations within MinDelayBetweenRAs")
	default:
	}
}

// An optional service must not stop the controller: without the interface
// Run keeps trying until it is stopped, and returns no error.
func TestRunWithoutTheInterfaceNeverFails(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- (&Sender{Interface: "crl-no-such-if"}).Run(ctx) }()
	select {
	case err := <-done:
		t.Fatalf("Run returned %v before it was stopped", err)
	case <-time.After(100 * time.Millisecond):
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run = %v, want nil", err)
	}
}
