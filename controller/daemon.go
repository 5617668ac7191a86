// Package controller composes the controller's services — DHCP, TFTP and
// HTTP today — from one configuration and runs them until the context ends.
package controller

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"golang.org/x/sync/errgroup"

	"corral.io/corral/controller/boot/dhcp"
	"corral.io/corral/controller/boot/leases"
	"corral.io/corral/controller/boot/ra"
	"corral.io/corral/controller/bootlog"
	"corral.io/corral/controller/config"
	"corral.io/corral/controller/k3s"
	"corral.io/corral/controller/registry"
)

// Service is a long-running part of the controller.
type Service interface {
	Run(ctx context.Context) error
}

// Daemon is a configured controller whose sockets are already bound.
type Daemon struct {
	log      *slog.Logger
	services []namedService
	closers  []func() error
	// Registry holds every metric the controller exports.
	Registry *prometheus.Registry
	// Nodes is the node registry.
	Nodes *registry.Store
	// K3s is the supervised k3s server; nil when k3s.binary is unset. The
	// Kubernetes reconciler reads its Kubeconfig and waits on WaitReady.
	K3s *k3s.Server
}

type namedService struct {
	name string
	svc  Service
}

// New prepares every enabled service: it creates the state directory, opens
// the lease database and binds all sockets, so that a wrong setting fails here
// with a clear error before anything serves.
func New(cfg *config.Controller, log *slog.Logger) (d *Daemon, err error) {
	d = &Daemon{log: log, Registry: prometheus.NewRegistry()}
	d.Registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	made := d // the error returns below set d to nil
	defer func() {
		if err != nil {
			made.close()
		}
	}()
	if err := os.MkdirAll(cfg.StateDir, 0o750); err != nil {
		return nil, fmt.Errorf("create state directory (stateDir): %w", err)
	}
	self, err := advertiseAddress(cfg)
	if err != nil {
		return nil, err
	}
	log.Info("controller address", "ip", self, "iface", cfg.Interface)
	httpBase := "http://" + httpHostPort(self, cfg.HTTP.Listen)

	if cfg.DHCP.Mode != config.ModeOff {
		if err := d.addDHCP(cfg, self, httpBase); err != nil {
			return nil, err
		}
	}
	if *cfg.DHCP.RouterAdvertisements && cfg.Interface != "" {
		d.services = append(d.services, namedService{"ra", &ra.Sender{Interface: cfg.Interface, Logger: d.log.With("svc", "ra")}})
	}
	// The stores first: every service below is handed what it uses.
	st, err := d.openStores(cfg)
	if err != nil {
		return nil, err
	}
	d.Nodes = st.nodes
	set, err := loadProfiles(cfg.Profiles.Dir)
	if err != nil {
		return nil, err
	}
	ps := &profileSet{set: set, reg: st.nodes}
	if d.K3s, err = d.addK3s(cfg, self); err != nil {
		return nil, err
	}
	ca, apiURL, err := d.addAPI(cfg, self, st, ps, k3sJoin(d.K3s))
	if err != nil {
		return nil, err
	}
	if err := d.addKube(cfg, st.nodes, ps); err != nil {
		return nil, err
	}
	if err := d.addBootServices(cfg, httpBase, apiURL, ca.Fingerprint, st.nodes, ps); err != nil {
		return nil, err
	}
	return d, nil
}

// stores are the controller's databases under the state directory.
type stores struct {
	nodes *registry.Store
	logs  *bootlog.Store
}

// openStores opens the node registry and the boot logs; the daemon closes
// them when it stops.
func (d *Daemon) openStores(cfg *config.Controller) (stores, error) {
	reg, err := registry.Open(filepath.Join(cfg.StateDir, "registry.db"))
	if err != nil {
		return stores{}, err
	}
	d.closers = append(d.closers, reg.Close)
	logs, err := bootlog.Open(filepath.Join(cfg.StateDir, "bootlogs.db"), bootlog.Options{})
	if err != nil {
		return stores{}, err
	}
	d.closers = append(d.closers, logs.Close)
	return stores{nodes: reg, logs: logs}, nil
}

func (d *Daemon) addDHCP(cfg *config.Controller, server netip.Addr, httpBase string) error {
	hc := dhcp.Config{
		ServerIP:  server,
		Domain:    cfg.DHCP.Domain,
		LeaseTime: cfg.DHCP.LeaseTime.Duration,
		Boot: dhcp.BootConfig{
			BIOSFile: cfg.Boot.BIOSFile,
			UEFIFile: cfg.Boot.UEFIFile,
			HTTPBase: httpBase,
		},
	}
	var store *leases.Store
	if cfg.DHCP.Mode == config.ModeProxy {
		hc.Mode = dhcp.Proxy
	} else {
		hc.Mode = dhcp.Authoritative
		hc.Subnet = netip.MustParsePrefix(cfg.DHCP.Subnet).Masked() // validated
		hc.Router = parseAddr(cfg.DHCP.Router)
		for _, s := range cfg.DHCP.DNS {
			hc.DNS = append(hc.DNS, parseAddr(s))
		}
		for _, s := range cfg.DHCP.NTP {
			hc.NTP = append(hc.NTP, parseAddr(s))
		}
		pool := leases.Pool{Start: parseAddr(cfg.DHCP.RangeStart), End: parseAddr(cfg.DHCP.RangeEnd)}
		for _, r := range cfg.DHCP.Reservations {
			mac, _ := net.ParseMAC(r.MAC) // validated
			pool.Reservations = append(pool.Reservations, leases.Reservation{MAC: mac, IP: parseAddr(r.IP), Hostname: r.Hostname})
		}
		var err error
		store, err = leases.Open(filepath.Join(cfg.StateDir, "leases.db"), pool)
		if err != nil {
			return err
		}
		d.closers = append(d.closers, store.Close)
		d.log.Info("lease database loaded", "leases", len(store.Leases()), "in_use", store.InUse())
	}
	var inUse func() float64
	var leaser dhcp.Leaser
	if store != nil {
		inUse = func() float64 { return float64(store.InUse()) }
		leaser = store
	}
	h := dhcp.NewHandler(hc, leaser, d.log.With("svc", "dhcp"), dhcp.NewMetrics(d.Registry, inUse))
	srv, err := dhcp.Listen(cfg.Interface, cfg.DHCP.Port, hc.Mode == dhcp.Proxy && *cfg.DHCP.ProxyPort4011, h, d.log.With("svc", "dhcp"))
	if err != nil {
		return err
	}
	d.services = append(d.services, namedService{"dhcp", srv})
	return nil
}

// Run serves until ctx is done or a service fails, then stops them all.
func (d *Daemon) Run(ctx context.Context) error {
	defer d.close()
	g, ctx := errgroup.WithContext(ctx)
	for _, s := range d.services {
		g.Go(func() error {
			if err := s.svc.Run(ctx); err != nil {
				return fmt.Errorf("%s: %w", s.name, err)
			}
			return nil
		})
	}
	d.log.Info("controller running", "services", len(d.services))
	err := g.Wait()
	d.log.Info("controller stopped")
	return err
}

func (d *Daemon) close() {
	var errs []error
	for i := len(d.closers) - 1; i >= 0; i-- {
		errs = append(errs, d.closers[i]())
	}
	d.closers = nil
	if err := errors.Join(errs...); err != nil {
		d.log.Warn("close", "err", err)
	}
}

// advertiseAddress is the configured address, else the first IPv4 address
// of the provisioning interface.
func advertiseAddress(cfg *config.Controller) (netip.Addr, error) {
	if cfg.AdvertiseAddress != "" {
		return parseAddr(cfg.AdvertiseAddress), nil
	}
	if cfg.Interface == "" {
		return netip.Addr{}, errors.New("advertiseAddress: set it, or set interface so it can be read from there")
	}
	ifc, err := net.InterfaceByName(cfg.Interface)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("interface %q: %w (list interfaces with `ip link`)", cfg.Interface, err)
	}
	addrs, err := ifc.Addrs()
	if err != nil {
		return netip.Addr{}, fmt.Errorf("addresses of %s: %w", cfg.Interface, err)
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok {
			if v4, ok := netip.AddrFromSlice(n.IP.To4()); ok && n.IP.To4() != nil {
				return v4, nil
			}
		}
	}
	return netip.Addr{}, fmt.Errorf("interface %s has no IPv4 address: give it one (ip addr add 10.10.0.1/24 dev %s) or set advertiseAddress", cfg.Interface, cfg.Interface)
}

// httpHostPort joins the advertised address with the HTTP listen port.
func httpHostPort(server netip.Addr, listen string) string {
	_, port, _ := net.SplitHostPort(listen) // validated
	if port == "80" {
		return server.String()
	}
	return net.JoinHostPort(server.String(), port)
}

func parseAddr(s string) netip.Addr {
	a, _ := netip.ParseAddr(s) // validated by config; empty gives the invalid Addr
	return a
}
