package ra

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

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

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	// Interval longer than the test: what rdisc6 gets is the answer to
	// its solicitation.
	s := &Sender{Interface: "prov0", Interval: time.Hour}
	var ifi *net.Interface
	var pc *ipv6.PacketConn
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := srv.Do(func() error {
			var err error
			if ifi, err = net.InterfaceByName("prov0"); err != nil {
				return err
			}
			pc, err = listen(ifi)
			return err
		})
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no IPv6 link-local address on prov0 after 10 s: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	go func() { done <- s.serve(ctx, ifi, pc) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})

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
