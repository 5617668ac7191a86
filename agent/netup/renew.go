package netup

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/dhcpv4/nclient4"
)

// Lease is a DHCP lease: the server's DHCPACK and when it was received.
// The controller takes an address back once its lease has expired, so the
// node must renew it (Renew) for as long as it uses the address.
type Lease struct {
	ACK      *dhcpv4.DHCPv4
	Acquired time.Time
}

// Duration is the lease time (option 51); 0 when the server gave none
// (then the lease is taken as infinite and never renewed).
func (l Lease) Duration() time.Duration {
	if l.ACK == nil {
		return 0
	}
	return l.ACK.IPAddressLeaseTime(0)
}

// T1 is when renewing starts, after Acquired: option 58, or half the lease
// (RFC 2131 §4.4.5). It is kept below T2.
func (l Lease) T1() time.Duration {
	d := l.Duration()
	t1 := l.ACK.IPAddressRenewalTime(d / 2)
	if t1 <= 0 || t1 >= l.T2() {
		t1 = min(d/2, l.T2())
	}
	return t1
}

// T2 is when rebinding starts: option 59, or 7/8 of the lease, kept below
// the lease time.
func (l Lease) T2() time.Duration {
	d := l.Duration()
	t2 := l.ACK.IPAddressRebindingTime(d * 7 / 8)
	if t2 <= 0 || t2 >= d {
		t2 = d * 7 / 8
	}
	return t2
}

// Server is the server identifier (option 54).
func (l Lease) Server() netip.Addr {
	if l.ACK == nil {
		return netip.Addr{}
	}
	a, _ := netip.AddrFromSlice(l.ACK.ServerIdentifier().To4())
	return a
}

// Expires is when the lease ends.
func (l Lease) Expires() time.Time { return l.Acquired.Add(l.Duration()) }

// RenewConfig says which lease to keep and on which interface.
type RenewConfig struct {
	// Link is the interface the lease is on (Name and MAC are used).
	Link  Link
	Lease Lease
	// Netlink reconfigures the interface when a new lease changes the
	// address; nil opens one in the calling thread's network namespace.
	Netlink Netlink
	// ResolvConf is rewritten when a new lease changes the name servers;
	// default /etc/resolv.conf.
	ResolvConf string
	// MinRetry is the shortest wait between two requests while renewing
	// or rebinding; default 10 s. RFC 2131 §4.4.5 waits half the time
	// left to T2 (or to the expiry), at least 60 s; a shorter floor suits
	// the controller's short leases (down to 1 min).
	MinRetry time.Duration
	// AttemptTimeout bounds one exchange; default 4 s.
	AttemptTimeout time.Duration
	// OnLease, when set, is called with every new lease (renewed or
	// obtained anew) and its plan, e.g. to update the stage handover.
	OnLease func(Lease, Plan)
	// OnAddressChange, when set, is called when a new lease gave the
	// interface another address, once the interface has it (before
	// OnLease): whatever was told the old address (k3s' node-ip) must be
	// told the new one. It runs on Renew's goroutine.
	OnAddressChange func(iface string, old, new netip.Prefix)
	Logger          *slog.Logger

	// renew runs one REQUEST; nil uses nclient4 (unicast when bound is
	// true, else broadcast). Tests replace it.
	renew func(ctx context.Context, l Lease, unicast bool) (*dhcpv4.DHCPv4, error)
	// discover gets a fresh lease; nil uses Up's DHCP exchange.
	discover func(ctx context.Context) (*dhcpv4.DHCPv4, error)
}

// ErrNak is a server's refusal of a renewal: the address is no longer the
// node's, and it must discover a new one.
var ErrNak = errors.New("the DHCP server refused the renewal (DHCPNAK)")

// Renew keeps cfg.Lease alive until ctx is done, as RFC 2131 §4.4.5
// describes: at T1 it sends DHCPREQUEST unicast to the server that gave
// the lease (RENEWING), retrying; from T2 it broadcasts it to any server
// (REBINDING); when the lease expires, or a server answers DHCPNAK, it
// starts over with DHCPDISCOVER and configures what it gets. A new address
// is logged as an error and passed to OnAddressChange: whatever was told
// the old one (k3s' node-ip, the controller) must be told again. Sockets are opened on the calling
// goroutine, so call it on a thread in the node's network namespace.
func Renew(ctx context.Context, cfg RenewConfig) error {
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	cfg.Logger = log
	if cfg.MinRetry <= 0 {
		cfg.MinRetry = 10 * time.Second
	}
	if cfg.AttemptTimeout <= 0 {
		cfg.AttemptTimeout = 4 * time.Second
	}
	if cfg.ResolvConf == "" {
		cfg.ResolvConf = "/etc/resolv.conf"
	}
	if cfg.Lease.ACK == nil {
		return errors.New("no lease to renew")
	}
	if cfg.Netlink == nil {
		h, err := NewNetlink()
		if err != nil {
			return err
		}
		defer h.Close()
		cfg.Netlink = h
	}
	if cfg.renew == nil {
		cfg.renew = func(ctx context.Context, l Lease, unicast bool) (*dhcpv4.DHCPv4, error) {
			return renewNclient4(ctx, cfg.Link, l, unicast, cfg.AttemptTimeout)
		}
	}
	if cfg.discover == nil {
		cfg.discover = func(ctx context.Context) (*dhcpv4.DHCPv4, error) {
			// The address is gone: keep asking, there is nothing else to do.
			for round := 1; ; round++ {
				c := Config{Logger: log, AttemptTimeout: cfg.AttemptTimeout}
				c.defaults()
				_, ack, err := lease(ctx, &c, []Link{cfg.Link})
				if err == nil || ctx.Err() != nil {
					return ack, err
				}
				log.Error("DHCP: no new lease: the node has no usable address; retrying", "round", round, "err", err)
				if sleepUntil(ctx, time.Now().Add(cfg.MinRetry)) != nil {
					return nil, ctx.Err()
				}
			}
		}
	}
	cur := cfg.Lease
	for {
		if cur.Duration() <= 0 {
			log.Info("DHCP: the lease is infinite: nothing to renew", "ip", cur.ACK.YourIPAddr.String())
			<-ctx.Done()
			return nil
		}
		t1, t2, exp := cur.Acquired.Add(cur.T1()), cur.Acquired.Add(cur.T2()), cur.Expires()
		log.Debug("DHCP: lease held", "ip", cur.ACK.YourIPAddr.String(), "renew_at", t1.Format(time.RFC3339), "rebind_at", t2.Format(time.RFC3339), "expires", exp.Format(time.RFC3339))
		if err := sleepUntil(ctx, t1); err != nil {
			return nil
		}
		ack, err := cfg.phase(ctx, cur, true, t2)
		if ack == nil && !errors.Is(err, ErrNak) && ctx.Err() == nil {
			if !errors.Is(err, errTooLate) {
				log.Warn("DHCP: no answer from the server that gave the lease: asking any server (rebinding)", "server", cur.Server().String(), "err", err)
			}
			ack, err = cfg.phase(ctx, cur, false, exp)
		}
		if ctx.Err() != nil {
			return nil
		}
		renewed := ack != nil
		if ack == nil {
			log.Error("DHCP: lease lost: discovering a new one", "ip", cur.ACK.YourIPAddr.String(), "err", err)
			if ack, err = cfg.discover(ctx); err != nil {
				if ctx.Err() != nil {
					return nil
				}
				return fmt.Errorf("DHCP: no new lease after the old one was lost: %w", err)
			}
		}
		next := Lease{ACK: ack, Acquired: time.Now()}
		if err := cfg.adopt(cur, next, renewed); err != nil {
			log.Error("DHCP: new lease not applied", "err", err)
		}
		cur = next
	}
}

// phase sends REQUESTs (unicast or broadcast) until one is answered, the
// server refuses, or until passes. The wait between requests is half the
// time left, at least MinRetry.
func (cfg *RenewConfig) phase(ctx context.Context, cur Lease, unicast bool, until time.Time) (*dhcpv4.DHCPv4, error) {
	state := "renewing"
	if !unicast {
		state = "rebinding"
	}
	var last error
	for attempt := 1; time.Now().Before(until); attempt++ {
		cfg.Logger.Info("DHCP: "+state, "ip", cur.ACK.YourIPAddr.String(), "server", cur.Server().String(), "attempt", attempt, "expires", cur.Expires().Format(time.RFC3339))
		actx, cancel := context.WithTimeout(ctx, cfg.AttemptTimeout)
		ack, err := cfg.renew(actx, cur, unicast)
		cancel()
		if err == nil {
			return ack, nil
		}
		if errors.Is(err, ErrNak) || ctx.Err() != nil {
			return nil, err
		}
		last = err
		wait := max(time.Until(until)/2, cfg.MinRetry)
		if t := time.Now().Add(wait); t.After(until) {
			wait = time.Until(until)
		}
		cfg.Logger.Warn("DHCP: "+state+" got no answer: retrying", "err", err, "wait", wait.Round(time.Millisecond).String())
		if sleepUntil(ctx, time.Now().Add(wait)) != nil {
			return nil, ctx.Err()
		}
	}
	if last == nil {
		last = errTooLate
	}
	return nil, last
}

// errTooLate is phase's error when its time had passed before it began
// (the lease came from stage 1 long ago, or the machine was suspended).
var errTooLate = errors.New("its time had passed already")

// adopt applies a new lease: the interface when the address or the
// options changed, the resolver when its servers did.
func (cfg *RenewConfig) adopt(old, next Lease, renewed bool) error {
	log := cfg.Logger
	oldPlan, _ := planFromLease(old.ACK)
	plan, err := planFromLease(next.ACK)
	if err != nil {
		return err
	}
	if plan.Addr != oldPlan.Addr {
		log.Error("DHCP: THE NODE'S ADDRESS CHANGED: what was told the old one (k3s node-ip, peers) is stale",
			"iface", cfg.Link.Name, "old_ip", oldPlan.Addr.String(), "new_ip", plan.Addr.String(), "server", addrString(plan.Server))
		if err := cfg.Netlink.Apply(cfg.Link, plan); err != nil {
			return fmt.Errorf("configure %s with %s: %w", cfg.Link.Name, plan.Addr, err)
		}
		if r, ok := cfg.Netlink.(addrRemover); ok && oldPlan.Addr.IsValid() {
			if err := r.RemoveAddr(cfg.Link, oldPlan.Addr); err != nil {
				log.Warn("old address not removed", "iface", cfg.Link.Name, "ip", oldPlan.Addr.String(), "err", err)
			}
		}
		if cfg.OnAddressChange != nil {
			cfg.OnAddressChange(cfg.Link.Name, oldPlan.Addr, plan.Addr)
		}
	} else if plan.Gateway != oldPlan.Gateway || plan.MTU != oldPlan.MTU {
		if err := cfg.Netlink.Apply(cfg.Link, plan); err != nil {
			return fmt.Errorf("configure %s: %w", cfg.Link.Name, err)
		}
	}
	if b := ResolvConf(plan); b != nil && string(b) != string(ResolvConf(oldPlan)) {
		if err := writeResolvConf(cfg.ResolvConf, b); err != nil {
			return fmt.Errorf("name servers: %w", err)
		}
	}
	what := "DHCP: lease renewed"
	if !renewed {
		what = "DHCP: new lease"
	}
	log.Info(what, "iface", cfg.Link.Name, "ip", plan.Addr.String(), "lease", next.Duration().String(), "expires", next.Expires().Format(time.RFC3339))
	if cfg.OnLease != nil {
		cfg.OnLease(next, plan)
	}
	return nil
}

// addrRemover is implemented by the real Netlink: a changed address
// replaces the old one rather than joining it.
type addrRemover interface {
	RemoveAddr(l Link, a netip.Prefix) error
}

// renewNclient4 sends one DHCPREQUEST for l: RENEWING, unicast from the
// leased address to the server; REBINDING, broadcast on the link.
func renewNclient4(ctx context.Context, link Link, l Lease, unicast bool, timeout time.Duration) (*dhcpv4.DHCPv4, error) {
	opts := []nclient4.ClientOpt{nclient4.WithTimeout(timeout), nclient4.WithRetry(1)}
	if unicast {
		srv := l.Server()
		if !srv.IsValid() {
			return nil, errors.New("the lease names no server (option 54) to renew with")
		}
		opts = append(opts,
			nclient4.WithUnicast(&net.UDPAddr{IP: l.ACK.YourIPAddr, Port: dhcpv4.ClientPort}),
			nclient4.WithServerAddr(&net.UDPAddr{IP: srv.AsSlice(), Port: dhcpv4.ServerPort}))
	}
	c, err := nclient4.New(link.Name, opts...)
	if err != nil {
		return nil, fmt.Errorf("open DHCP client on %s: %w", link.Name, err)
	}
	defer c.Close()
	nl, err := c.Renew(ctx, &nclient4.Lease{Offer: l.ACK, ACK: l.ACK, CreationTime: l.Acquired},
		dhcpv4.WithRequestedOptions(dhcpv4.OptionInterfaceMTU, dhcpv4.OptionServerIdentifier))
	var nak *nclient4.ErrNak
	if errors.As(err, &nak) {
		return nil, fmt.Errorf("%w: %v", ErrNak, nak)
	}
	if err != nil {
		return nil, err
	}
	return nl.ACK, nil
}

func sleepUntil(ctx context.Context, t time.Time) error {
	d := time.Until(t)
	if d <= 0 {
		return ctx.Err()
	}
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-tm.C:
		return nil
	}
}

// LinkNamed returns the interface called name, as Renew needs it (stage 2
// knows the boot NIC by the name stage 1 handed over).
func LinkNamed(name string) (Link, error) {
	h, err := NewNetlink()
	if err != nil {
		return Link{}, err
	}
	defer h.Close()
	links, err := h.Links()
	if err != nil {
		return Link{}, fmt.Errorf("list network interfaces: %w", err)
	}
	for _, l := range links {
		if l.Name == name {
			return l, nil
		}
	}
	return Link{}, fmt.Errorf("no interface %s; interfaces seen: %s", name, describe(links))
}
