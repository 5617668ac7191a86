package netup

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"

	"corral.io/corral/internal/atomicfile"
	"corral.io/corral/internal/backoff"
)

// Link is what netup knows of a network interface.
type Link struct {
	Name  string
	Index int
	MAC   net.HardwareAddr
	// Kind is the netlink link type: "device" for a physical NIC, else
	// "veth", "bridge", "bond", "vlan", "tuntap", "dummy", …
	Kind     string
	Loopback bool
	// Carrier is true when the link layer is up (IFF_LOWER_UP).
	Carrier bool
}

// Physical reports whether l is a real NIC worth trying without BOOTIF.
func Physical(l Link) bool { return l.Kind == "device" && !l.Loopback && len(l.MAC) == 6 }

// Netlink is what netup changes in the kernel.
type Netlink interface {
	// Links lists the interfaces with their current carrier state.
	Links() ([]Link, error)
	// SetUp sets the interface administratively up.
	SetUp(l Link) error
	// Apply installs a plan on the interface: MTU, address, default route.
	Apply(l Link, p Plan) error
}

// Dialer opens a DHCP client on an interface. It is called on the caller's
// goroutine, so the socket belongs to the caller's network namespace; the
// client it returns may be used from any goroutine.
type Dialer func(l Link, timeout time.Duration) (DHCPClient, error)

// DHCPClient runs DHCP exchanges on one interface.
type DHCPClient interface {
	// Lease runs DISCOVER/OFFER/REQUEST/ACK once and returns the ACK.
	Lease(ctx context.Context) (*dhcpv4.DHCPv4, error)
	Close() error
}

// Config says which interface to bring up and how patiently.
type Config struct {
	// BootMAC is the boot NIC's address (BOOTIF); nil tries every
	// interface Candidate accepts that has carrier, first lease wins.
	BootMAC net.HardwareAddr
	// Candidate picks the interfaces tried without BootMAC; default Physical.
	Candidate func(Link) bool
	// ResolvConf is where name servers are written; default /etc/resolv.conf.
	ResolvConf string
	// CarrierTimeout bounds the wait for carrier; default 30 s (copper
	// autonegotiation can take several seconds).
	CarrierTimeout time.Duration
	// AttemptTimeout bounds one DHCP exchange; default 4 s.
	AttemptTimeout time.Duration
	// Attempts is how many DHCP exchanges are tried; default 8.
	Attempts int
	// Backoff is the wait between attempts; default 1 s doubling to 8 s, full jitter.
	Backoff backoff.Backoff
	// Logger receives progress; nil discards it.
	Logger *slog.Logger
	// Netlink and Dial reach the kernel; nil uses netlink in the calling
	// thread's network namespace and nclient4.
	Netlink Netlink
	Dial    Dialer

	rand func() float64 // jitter source, for tests
	poll time.Duration  // carrier poll interval
}

// Result is what the agent needs to know of the brought-up interface.
type Result struct {
	Iface string
	MAC   net.HardwareAddr
	Plan  Plan
	// Link is the interface, for Renew.
	Link Link
	// Lease is the DHCPACK and when it came; Renew keeps it alive.
	Lease Lease
}

// Addr is the leased address with its prefix.
func (r *Result) Addr() netip.Prefix { return r.Plan.Addr }

// Server is the DHCP server that gave the lease.
func (r *Result) Server() netip.Addr { return r.Plan.Server }

func (c *Config) defaults() {
	if c.Candidate == nil {
		c.Candidate = Physical
	}
	if c.ResolvConf == "" {
		c.ResolvConf = "/etc/resolv.conf"
	}
	if c.CarrierTimeout <= 0 {
		c.CarrierTimeout = 30 * time.Second
	}
	if c.AttemptTimeout <= 0 {
		c.AttemptTimeout = 4 * time.Second
	}
	if c.Attempts <= 0 {
		c.Attempts = 8
	}
	if c.Backoff == (backoff.Backoff{}) {
		c.Backoff = backoff.Backoff{Initial: time.Second, Max: 8 * time.Second}
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Dial == nil {
		c.Dial = DialNclient4
	}
	if c.rand == nil {
		c.rand = rand.Float64
	}
	if c.poll <= 0 {
		c.poll = 100 * time.Millisecond
	}
}

// Up brings up the boot NIC and returns what it configured. Netlink and
// DHCP sockets are opened on the calling goroutine (its thread's network
// namespace). It gives up, with an error saying what it waited for, after
// CarrierTimeout without carrier or Attempts DHCP exchanges without a lease.
func Up(ctx context.Context, cfg Config) (*Result, error) {
	cfg.defaults()
	if cfg.Netlink == nil {
		h, err := NewNetlink()
		if err != nil {
			return nil, err
		}
		defer h.Close()
		cfg.Netlink = h
	}
	links, err := cfg.Netlink.Links()
	if err != nil {
		return nil, fmt.Errorf("list network interfaces: %w", err)
	}
	cands, err := pick(links, cfg.BootMAC, cfg.Candidate)
	if err != nil {
		return nil, err
	}
	log := cfg.Logger
	for _, l := range cands {
		log.Info("setting interface up", "iface", l.Name, "mac", l.MAC.String())
		if err := cfg.Netlink.SetUp(l); err != nil {
			return nil, fmt.Errorf("set %s (%s) up: %w", l.Name, l.MAC, err)
		}
	}
	up, err := waitCarrier(ctx, &cfg, cands)
	if err != nil {
		return nil, err
	}
	l, ack, err := lease(ctx, &cfg, up)
	if err != nil {
		return nil, err
	}
	acquired := time.Now()
	plan, err := planFromLease(ack)
	if err != nil {
		return nil, fmt.Errorf("lease on %s: %w", l.Name, err)
	}
	if err := cfg.Netlink.Apply(l, plan); err != nil {
		return nil, fmt.Errorf("configure %s with %s: %w", l.Name, plan.Addr, err)
	}
	if b := ResolvConf(plan); b != nil {
		if err := writeResolvConf(cfg.ResolvConf, b); err != nil {
			return nil, fmt.Errorf("name servers: %w", err)
		}
	}
	log.Info("network up", "iface", l.Name, "mac", l.MAC.String(), "ip", plan.Addr.String(),
		"gateway", addrString(plan.Gateway), "dns", plan.DNS, "domain", plan.Domain, "server", addrString(plan.Server),
		"lease", ack.IPAddressLeaseTime(0).String())
	return &Result{Iface: l.Name, MAC: l.MAC, Plan: plan, Link: l, Lease: Lease{ACK: ack, Acquired: acquired}}, nil
}

func addrString(a netip.Addr) string {
	if !a.IsValid() {
		return ""
	}
	return a.String()
}

// pick chooses the interfaces to try: the one with BootMAC, or every
// candidate. Its errors name what was seen, so a console shows what is wrong.
func pick(links []Link, boot net.HardwareAddr, candidate func(Link) bool) ([]Link, error) {
	if boot != nil {
		for _, l := range links {
			if l.MAC.String() == boot.String() {
				return []Link{l}, nil
			}
		}
		return nil, fmt.Errorf("no interface has the boot MAC %s (BOOTIF); interfaces seen: %s", boot, describe(links))
	}
	var out []Link
	for _, l := range links {
		if candidate(l) {
			out = append(out, l)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no physical network interface to try (no BOOTIF given); interfaces seen: %s", describe(links))
	}
	return out, nil
}

func describe(links []Link) string {
	if len(links) == 0 {
		return "none"
	}
	s := make([]string, len(links))
	for i, l := range links {
		mac := l.MAC.String()
		if mac == "" {
			mac = "no MAC"
		}
		s[i] = fmt.Sprintf("%s (%s, %s)", l.Name, mac, l.Kind)
	}
	return strings.Join(s, ", ")
}

// waitCarrier polls until at least one candidate has carrier and returns
// those that do, logging progress every few seconds.
func waitCarrier(ctx context.Context, cfg *Config, cands []Link) ([]Link, error) {
	start := time.Now()
	deadline := start.Add(cfg.CarrierTimeout)
	lastLog := start
	tick := time.NewTicker(cfg.poll)
	defer tick.Stop()
	names := make([]string, len(cands))
	for i, l := range cands {
		names[i] = l.Name
	}
	for {
		links, err := cfg.Netlink.Links()
		if err != nil {
			return nil, fmt.Errorf("read carrier of %s: %w", strings.Join(names, ", "), err)
		}
		var up []Link
		for _, c := range cands {
			for _, l := range links {
				if l.Index == c.Index && l.Carrier {
					up = append(up, l)
				}
			}
		}
		if len(up) > 0 {
			for _, l := range up {
				cfg.Logger.Info("carrier up", "iface", l.Name, "mac", l.MAC.String(), "after", time.Since(start).Round(time.Millisecond))
			}
			return up, nil
		}
		now := time.Now()
		if now.After(deadline) {
			return nil, fmt.Errorf("no carrier on %s after %s: waited for a cable link (is the port connected and the switch port up?)",
				strings.Join(names, ", "), cfg.CarrierTimeout)
		}
		if now.Sub(lastLog) >= 2*time.Second {
			lastLog = now
			cfg.Logger.Info("waiting for carrier", "iface", strings.Join(names, ","), "waited", now.Sub(start).Round(time.Second), "timeout", cfg.CarrierTimeout)
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("waiting for carrier on %s: %w", strings.Join(names, ", "), context.Cause(ctx))
		case <-tick.C:
		}
	}
}

type leaseResult struct {
	l   Link
	ack *dhcpv4.DHCPv4
	err error
}

// lease runs DHCP on every link at once, retrying with backoff, and returns
// the first ACK.
func lease(ctx context.Context, cfg *Config, links []Link) (Link, *dhcpv4.DHCPv4, error) {
	clients := make([]DHCPClient, 0, len(links))
	defer func() {
		for _, c := range clients {
			_ = c.Close()
		}
	}()
	for _, l := range links {
		c, err := cfg.Dial(l, cfg.AttemptTimeout)
		if err != nil {
			return Link{}, nil, fmt.Errorf("open DHCP client on %s: %w", l.Name, err)
		}
		clients = append(clients, c)
	}
	names := make([]string, len(links))
	for i, l := range links {
		names[i] = l.Name
	}
	start := time.Now()
	var errs []error
	for attempt := 1; attempt <= cfg.Attempts; attempt++ {
		for _, l := range links {
			cfg.Logger.Info("DHCP: waiting for an offer", "iface", l.Name, "mac", l.MAC.String(), "attempt", attempt, "of", cfg.Attempts, "timeout", cfg.AttemptTimeout)
		}
		actx, cancel := context.WithTimeout(ctx, cfg.AttemptTimeout)
		results := make(chan leaseResult, len(links))
		for i, c := range clients {
			go func() {
				ack, err := c.Lease(actx)
				results <- leaseResult{links[i], ack, err}
			}()
		}
		var won *leaseResult
		errs = errs[:0]
		for range links {
			r := <-results
			if r.err == nil && won == nil {
				won = &r
				cancel() // the other interfaces stop waiting
				continue
			}
			if r.err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", r.l.Name, r.err))
			}
		}
		cancel()
		if won != nil {
			return won.l, won.ack, nil
		}
		if ctx.Err() != nil {
			return Link{}, nil, fmt.Errorf("DHCP on %s: %w", strings.Join(names, ", "), context.Cause(ctx))
		}
		if attempt == cfg.Attempts {
			break
		}
		wait := cfg.Backoff.Delay(attempt, cfg.rand())
		cfg.Logger.Warn("DHCP: no lease, retrying", "iface", strings.Join(names, ","), "attempt", attempt, "wait", wait.Round(time.Millisecond), "err", errors.Join(errs...))
		select {
		case <-ctx.Done():
			return Link{}, nil, fmt.Errorf("DHCP on %s: %w", strings.Join(names, ", "), context.Cause(ctx))
		case <-time.After(wait):
		}
	}
	return Link{}, nil, fmt.Errorf("no DHCP lease on %s after %d attempts in %s: waited for a DHCP server on the boot network to answer DHCPDISCOVER (is the controller's DHCP running, authoritative on this network?): %w",
		strings.Join(names, ", "), cfg.Attempts, time.Since(start).Round(time.Millisecond), errors.Join(errs...))
}

// writeResolvConf replaces path with b atomically (internal/atomicfile),
// making its directory first.
func writeResolvConf(path string, b []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return atomicfile.Write(path, b, 0o644)
}
